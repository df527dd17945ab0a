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
from socketsvc.scaleout.redis_failover import Epoch, RecentKeys, append_key, replicated
from socketsvc.scaleout.redis_health import RedisHealth, redis_client
from socketsvc.scaleout.redis_once import sent_key
from socketsvc.scaleout.redis_replay import Entry, StreamReplay, as_text, ids
from socketsvc.scaleout.redis_topology import connection_url
from socketsvc.sio.observer import Observer
from socketsvc.sio.once import Once
from socketsvc.sio.recovery import Checkpoints, Session, Windows

log = logging.getLogger("socketsvc.recovery")

REFRESH_SECONDS = 20.0  # live sessions' keys are re-armed this often
READ_BLOCK_MS = 1000  # below the client's socket timeout
READ_COUNT = 512
START_WAIT = 2.0


class RedisRecovery(StreamReplay):
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
        self._foreign = OncePerCause(log)  # stream entries socketsvc did not write
        self.node = secrets.token_hex(8)  # with a connection's eio sid: a session's holder
        self.link = RedisHealth("recovery", connection_url(settings), observer)
        self.redis: aioredis.Redis = redis_client(connection_url(settings))
        self.stream = stream_key(self.prefix)
        self.epoch = Epoch(self.redis, self.stream)  # offsets before it: an older stream
        self._appended = 0  # with Sentinel: this node's appends, numbered (redis_failover.py)
        self._delivered = RecentKeys()
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
        failover = self.link.failover
        for namespace, fields, once in emits:
            if once is None and failover:  # keyed: a retry after a lost answer adds nothing
                self._appended += 1
                origin = f"{self.node}#{self._appended}"
                keys.append(f"{self.prefix}:rappend:{origin}")
                args += [fields["m"], origin, b"", int(failover * 2000)]
            elif once is None:
                keys.append(self.stream)
                args += [fields["m"], fields["o"], b"", 0]
            else:
                keys.append(sent_key(self.prefix, namespace, once.key))
                ttl = max(1, int(once.seconds * 1000))
                args += [fields["m"], fields["o"], bus.pack(once.answer), ttl]
        if failover:
            answer: Any = await self.link.attempt_through_failover(
                lambda: replicated(self.redis, self._append, keys, args), None
            )
        else:
            answer = await self.link.attempt(self._append(keys=keys, args=args), None)
        if answer is None:
            return None
        outcomes, items = answer
        offsets: list[str | None] = []
        for (_, _, once), (added, value) in zip(emits, outcomes, strict=True):
            if added:
                offsets.append(as_text(value))
            else:  # sent already: its once-key, or (Sentinel) an attempt whose answer was lost
                if once is not None:
                    once.earlier = bus.unpack(value)
                offsets.append(None)
        self.observer.bus_published(sum(1 for offset in offsets if offset is not None))
        stored = {offset for offset in offsets if offset is not None}
        entries = []
        for item_id, flat in items:
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
            if as_text(item_id) in stored:  # this call's own: the feed needs them as they are
                self._delivered.first(append_key(fields))
                entry = self._decode(item_id, fields)
            else:
                entry = self._entry(item_id, fields)
            if entry is not None:
                entries.append(entry)
        return offsets, entries

    def _entry(self, raw_id: Any, fields: Any) -> Entry | None:
        """A read entry; one appended again after a failover (its key seen before) goes to
        nobody, so that the position still moves past it."""
        entry = self._decode(raw_id, fields)
        if entry is None or self._delivered.first(append_key(fields)):
            return entry
        return (entry[0], entry[1], frozenset(), entry[3], entry[4])

    async def check_epoch(self) -> None:
        """Learn the stream's epoch; when it changed (Redis restarted empty), read the new
        stream from its start and never resume an offset from the old one."""
        if await self.epoch.learn():
            log.warning(
                "recovery stream reset (Redis restarted without its data): reading the new "
                "stream from its start; sessions from before cannot be recovered"
            )
            self.observer.backend_down("recovery_reset")
            self.position = "0-0"

    async def ensure_position(self) -> str:
        """Where this node starts reading: the stream's end when it first could ask."""
        if self.position is None:
            last = await self.redis.xrevrange(self.stream, count=1)
            self.position = as_text(last[0][0]) if last else "0-0"
        return self.position

    async def read(self) -> list[Entry]:
        """The entries after :attr:`position` (waits up to a second for one)."""
        position = await self.ensure_position()
        # The epoch comes with every read, in the same round trip: a Redis that restarted
        # empty between two reads (even unseen, redis-py reconnects by itself) is noticed
        # before anything of the new stream is delivered.
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.epoch.keys[0])
        pipe.xread({self.stream: position}, count=READ_COUNT, block=READ_BLOCK_MS)
        epoch, answer = await pipe.execute()
        if self.epoch.differs(epoch):
            await self.check_epoch()
            return []  # read again from the position it set
        entries: list[Entry] = []
        for _, items in answer or ():
            for raw_id, fields in items:
                if fields.get(b"o", b"").partition(b"#")[0] != self.node.encode():
                    self.observer.bus_received()
                decoded = self._entry(raw_id, fields)
                if decoded is not None:
                    entries.append(decoded)
        return entries

    def _decode(self, raw_id: Any, fields: Any) -> Entry | None:
        entry_id = as_text(raw_id)
        try:
            namespace, rooms, skip, args = bus.unpack(fields[b"m"])
            return (
                entry_id,
                namespace,
                None if rooms is None else frozenset(rooms),
                frozenset(skip),
                [*args, entry_id],
            )
        except Exception as exc:  # not ours: skip it (every reader of it would say so)
            cause = type(exc).__name__
            self._foreign(cause, "ignoring recovery entry %s: %s", entry_id, cause)
            return None

    def head(self, namespace: str) -> str:
        position = self.position or "0-0"
        return self.epoch.value if self.epoch.before(*ids(position)) else position

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
            session.previous = as_text(previous).rpartition("/")[2]
        self._live[namespace, pid] = holder
        return session

    @staticmethod
    def _fits(session: Session, namespace: str) -> bool:
        """Whether a claimed session can be restored in ``namespace``."""
        return session.namespace == namespace

    async def pending(self, namespace: str, pid: str) -> bool:
        kept = self._keys(Session(pid, "", namespace))[1]
        return bool(await self.link.attempt(self.redis.exists(kept), 0))

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        with contextlib.suppress(Exception):  # the epoch first: sessions start at head()
            await asyncio.wait_for(self.check_epoch(), START_WAIT)
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
