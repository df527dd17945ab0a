"""Connection-state recovery shared by every node on one Redis: a client that drops from one
node is recovered by whichever node it reconnects to, also after a rolling restart or a crash.

Keys (``P`` = ``redis_prefix``, ``N`` a namespace):

- ``P:recovery`` — a stream: every stored emit of every namespace with recovery, in one order
  for the whole cluster. Its entry id is the offset clients get. Every node delivers each
  entry to its own clients in stream order (see ``RedisManager``): its own emits at once, as
  the append answers with every entry from the node's position up to the new one, and the
  others' as its reader reads them. So no client sees two packets in an order that could make
  it skip or repeat one on recovery. Trimmed to about ``recovery_max_packets`` entries and to
  the longest window.
- ``P:rsess:N:<pid>`` — a dropped session, kept for its namespace's window.
- ``P:rlive:N:<pid>`` — a hash: the session of a live connection (rooms and session data as
  they change) and its holder (node and connection), re-armed by that node and expiring about
  a window after it stops doing so.

Claiming is one script: it moves ``rsess`` (or, when its connection still counts as open
somewhere, ``rlive``) to ``rlive`` under the claimer, so the session is in a key at every
moment and no other step can come between. A node keeps (as ``rsess``), forgets or updates a
live session only while its connection holds it, so a connection that drops after a reconnect
claimed its session leaves the new holder's record alone, and one that drops at any step of a
restore leaves the session claimable.

While Redis is unreachable, emits are delivered by each node to its own clients without an
offset (recovery of them is impossible, delivery is not delayed), sessions are not kept, and
reconnecting clients connect as new: never an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncGenerator
from typing import Any

from redis import asyncio as aioredis

from socketsvc.config import Settings
from socketsvc.errors import OncePerCause, Unencodable, UnsupportedValue
from socketsvc.scaleout import bus
from socketsvc.scaleout.bus import (  # the entry format, shared with the emitter
    stream_entry,
    stream_key,
)
from socketsvc.scaleout.recovery_scripts import APPEND, CLAIM, PERSIST, TRACK
from socketsvc.scaleout.redis_health import RedisHealth, redis_client
from socketsvc.scaleout.redis_once import sent_key
from socketsvc.sio.observer import Observer
from socketsvc.sio.once import Once
from socketsvc.sio.recovery import REPLAY_SLICE, Checkpoints, Session, Stored, Unavailable, Windows

log = logging.getLogger("socketsvc.recovery")

REFRESH_SECONDS = 20.0  # live sessions' keys are re-armed this often
READ_BLOCK_MS = 1000  # below the client's socket timeout
READ_COUNT = 512
START_WAIT = 2.0

# id, namespace, rooms (None: all), skipped sids, event args with the offset last
Entry = tuple[str, str, frozenset[str] | None, frozenset[str], list[Any]]


def ids(entry_id: str) -> tuple[int, int]:
    """A stream entry id as a pair that compares in stream order."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


class RedisRecovery:
    """The cluster's :class:`~socketsvc.sio.recovery.RecoveryLog` (see module doc)."""

    def __init__(
        self,
        settings: Settings,
        windows: Windows,
        observer: Observer,
        checkpoints: Checkpoints | None = None,
    ) -> None:
        self.windows = windows
        self.observer = observer
        self.checkpoints = checkpoints or Checkpoints()
        self.prefix = settings.redis_prefix
        self.max_packets = settings.recovery_max_packets
        self.longest = max([settings.recovery_window, 120.0, *settings.namespace_recovery.values()])
        # This node's live sessions, whose keys it re-arms: (namespace, pid) -> holder.
        self._live: dict[tuple[str, str], str] = {}
        self._unkeepable = OncePerCause(log)
        self.node = secrets.token_hex(8)  # with a connection's eio sid: a session's holder
        self.link = RedisHealth("recovery", settings.redis_url, observer)
        self.redis: aioredis.Redis = redis_client(settings.redis_url)
        self.stream = stream_key(self.prefix)
        self._claim = self.redis.register_script(CLAIM)
        self._persist = self.redis.register_script(PERSIST)
        self._track = self.redis.register_script(TRACK)
        self._append = self.redis.register_script(APPEND)
        self.position: str | None = None  # the last entry this node has delivered
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- keys ---------------------------------------------------------------------------------

    def _keys(self, session: Session) -> list[str]:
        """``rlive`` and ``rsess`` of the session."""
        tail = f"{session.namespace}:{session.pid}"
        return [f"{self.prefix}:rlive:{tail}", f"{self.prefix}:rsess:{tail}"]

    def _holder(self, session: Session) -> str:
        return f"{self.node}/{session.holder}"

    # -- the stream ---------------------------------------------------------------------------

    def entry(
        self, namespace: str, rooms: frozenset[str] | None, skip: frozenset[str], args: list[Any]
    ) -> dict[str, bytes]:
        """A stored emit's stream fields (raises as :func:`stream_entry` does)."""
        return stream_entry(namespace, rooms, skip, args, self.node)

    async def append(
        self, emits: list[tuple[str, dict[str, bytes], Once | None]]
    ) -> tuple[list[str | None], list[Entry]] | None:
        """Append stored emits ``(namespace, fields, once)``, in one step: each one's id
        (its offset), or None when its ``once`` was sent already (its
        :attr:`~socketsvc.sio.once.Once.earlier` is set then); and the entries from this
        node's position up to the last, oldest first. None when Redis is unreachable."""
        try:
            position = await self.ensure_position()
        except Exception as exc:
            self.link.mark_down(exc)
            return None
        keys = [self.stream]
        args: list[Any] = [self.max_packets, position]
        for namespace, fields, once in emits:
            if once is None:
                keys.append(self.stream)
                args += [fields["m"], fields["o"], b"", 0]
            else:
                keys.append(sent_key(self.prefix, namespace, once.key))
                ttl = max(1, int(once.seconds * 1000))
                args += [fields["m"], fields["o"], bus.pack(once.answer), ttl]
        answer: Any = await self.link.attempt(self._append(keys=keys, args=args), None)
        if answer is None:
            return None
        outcomes, items = answer
        offsets: list[str | None] = []
        for (_, _, once), (added, value) in zip(emits, outcomes, strict=True):
            if added:
                offsets.append(_text(value))
            else:
                assert once is not None
                once.earlier = bus.unpack(value)
                offsets.append(None)
        self.observer.bus_published(sum(1 for offset in offsets if offset is not None))
        entries = []
        for item_id, flat in items:
            decoded = self._decode(item_id, dict(zip(flat[::2], flat[1::2], strict=True)))
            if decoded is not None:
                entries.append(decoded)
        return offsets, entries

    async def ensure_position(self) -> str:
        """Where this node starts reading: the stream's end when it first could ask."""
        if self.position is None:
            last = await self.redis.xrevrange(self.stream, count=1)
            self.position = _text(last[0][0]) if last else "0-0"
        return self.position

    async def read(self) -> list[Entry]:
        """The entries after :attr:`position` (waits up to a second for one)."""
        position = await self.ensure_position()
        answer: Any = await self.redis.xread(
            {self.stream: position}, count=READ_COUNT, block=READ_BLOCK_MS
        )
        entries: list[Entry] = []
        for _, items in answer or ():
            for raw_id, fields in items:
                if fields.get(b"o") != self.node.encode():
                    self.observer.bus_received()
                decoded = self._decode(raw_id, fields)
                if decoded is not None:
                    entries.append(decoded)
        return entries

    def _decode(self, raw_id: Any, fields: Any) -> Entry | None:
        entry_id = _text(raw_id)
        try:
            namespace, rooms, skip, args = bus.unpack(fields[b"m"])
            return (
                entry_id,
                namespace,
                None if rooms is None else frozenset(rooms),
                frozenset(skip),
                [*args, entry_id],
            )
        except Exception as exc:  # not ours: skip it, once per entry
            log.warning("ignoring recovery entry %s: %s", entry_id, type(exc).__name__)
            return None

    def head(self, namespace: str) -> str:
        return self.position or "0-0"

    # -- sessions -----------------------------------------------------------------------------

    @staticmethod
    def _pack(session: Session) -> bytes:
        fields = [session.pid, session.sid, session.namespace, session.rooms, session.data]
        return bus.pack([*fields, session.start])

    @staticmethod
    def _unpack(raw: bytes) -> Session:
        pid, sid, namespace, rooms, data, start = bus.unpack(raw)
        return Session(pid, sid, namespace, list(rooms), data, start)

    def _live_ttl_ms(self) -> int:
        return int((self.longest + REFRESH_SECONDS) * 1000)

    async def track(self, session: Session) -> None:
        self._live[session.namespace, session.pid] = session.holder
        try:
            packed = self._pack(session)
        except (Unencodable, UnsupportedValue) as exc:  # its session data: not Redis's fault
            cause = getattr(exc, "cause", type(exc).__name__)
            self._unkeepable(cause, "a session's data cannot be kept for recovery: %s", exc)
            return
        args: list[Any] = [self._holder(session), packed, self._live_ttl_ms()]
        await self.link.attempt(self._track(keys=self._keys(session), args=args), None)

    async def persist(self, session: Session) -> None:
        await self.checkpoints.reached("persist", session.pid)
        await self._release(session, self.windows(session.namespace))

    async def forget(self, session: Session) -> None:
        await self._release(session, 0)

    async def _release(self, session: Session, window: float) -> None:
        """This connection no longer holds the session: keep it ``window`` seconds as dropped."""
        key = (session.namespace, session.pid)
        if self._live.get(key) == session.holder:
            del self._live[key]
        try:
            packed = self._pack(session)
        except (Unencodable, UnsupportedValue) as exc:  # its session data: not Redis's fault
            cause = getattr(exc, "cause", type(exc).__name__)
            self._unkeepable(cause, "a session's data cannot be kept for recovery: %s", exc)
            packed, window = b"", 0
        args: list[Any] = [packed, int(window * 1000), self._holder(session)]
        await self.link.attempt(self._persist(keys=self._keys(session), args=args), None)

    async def claim(self, pid: str, namespace: str, holder: str) -> Session | None:
        await self.checkpoints.reached("claim", pid)
        keys = self._keys(Session(pid, "", namespace))
        claimer = f"{self.node}/{holder}"
        answer: Any = await self.link.attempt(
            self._claim(keys=keys[::-1], args=[claimer, self._live_ttl_ms()]), None
        )
        if answer is None:
            return None
        raw, previous = answer
        try:
            session = self._unpack(raw)
        except Exception:  # not a session this version wrote: it cannot be restored
            await self.link.attempt(self._persist(keys=keys, args=[b"", 0, claimer]), None)
            return None
        if not self._fits(session, namespace):  # another namespace's: kept as it was
            window = int(self.windows(session.namespace) * 1000)
            await self.link.attempt(self._persist(keys=keys, args=[raw, window, claimer]), None)
            return None
        session.namespace = namespace
        session.holder = holder
        if previous:  # "<node>/<eio sid>" of the connection that may still be open
            session.previous = _text(previous).rpartition("/")[2]
        self._live[namespace, pid] = holder
        return session

    @staticmethod
    def _fits(session: Session, namespace: str) -> bool:
        """Whether a claimed session can be restored in ``namespace``."""
        return session.namespace == namespace

    async def pending(self, namespace: str, pid: str) -> bool:
        kept = self._keys(Session(pid, "", namespace))[1]
        return bool(await self.link.attempt(self.redis.exists(kept), 0))

    async def resumable(self, session: Session, offset: str | None) -> bool:
        after = offset if offset is not None else session.start
        if after is None:
            return False
        try:
            ids(after)
            info = await self.redis.xinfo_stream(self.stream)
        except ValueError:
            return False
        except Exception as exc:
            if "no such key" in str(exc).lower():
                return ids(after) == (0, 0)
            self.link.mark_down(exc)
            return False
        deleted = _text(info.get("max-deleted-entry-id", b"0-0"))
        last = _text(info.get("last-generated-id", b"0-0"))
        # Everything after the client's place must still be there, and the place must exist.
        return ids(deleted) <= ids(after) <= ids(last)

    async def missed(
        self, session: Session, offset: str | None, upto: str
    ) -> AsyncGenerator[list[list[Any]], None]:
        cursor = offset if offset is not None else session.start
        if cursor is None or ids(cursor) >= ids(upto):
            return
        while True:
            read = self.redis.xrange(self.stream, min=f"({cursor}", max=upto, count=REPLAY_SLICE)
            try:
                items: Any = await read
            except Exception as exc:
                self.link.mark_down(exc)
                raise Unavailable(str(exc)) from None
            wanted = []
            for raw_id, fields in items:
                cursor = _text(raw_id)
                args = self._wanted(session, raw_id, fields)
                if args is not None:
                    wanted.append(args)
            if wanted:
                yield wanted
            if len(items) < REPLAY_SLICE:
                return

    def _wanted(self, session: Session, raw_id: Any, fields: Any) -> list[Any] | None:
        """A stream entry's event arguments (offset last) if the session's client was meant
        to receive it, else None."""
        entry = self._decode(raw_id, fields)
        if entry is None or entry[1] != session.namespace:
            return None
        stored = Stored(entry[0], entry[2], entry[3], entry[4], 0, 0.0)
        return stored.args if stored.wanted_by(session.sid, session.rooms) else None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ensure_position(), START_WAIT)
        self._task = asyncio.create_task(self._keep_alive(), name="socketsvc-recovery-heartbeat")
        await self.link.wait_settled(START_WAIT)

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=3.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.redis.aclose(), 2.0)

    def problem(self) -> str | None:
        return self.link.problem()

    async def _keep_alive(self) -> None:
        """Keep the live sessions' keys alive, and the stream within the longest window."""
        async for _ in self.link.repeat(self._refresh, lambda: self._stopping):
            await asyncio.sleep(REFRESH_SECONDS)

    async def _refresh(self) -> None:
        await self.ensure_position()
        pipe = self.redis.pipeline(transaction=False)
        for namespace, pid in list(self._live):
            pipe.pexpire(f"{self.prefix}:rlive:{namespace}:{pid}", self._live_ttl_ms())
        pipe.xtrim(self.stream, minid=self._oldest_kept(), approximate=True)
        await pipe.execute()

    def _oldest_kept(self) -> str:
        """Stream entries older than the longest window can no longer be asked for."""
        ms, _ = ids(self.position or "0-0")
        return f"{max(0, ms - int(self.longest * 1000))}-0"
