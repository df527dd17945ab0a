"""Connection-state recovery shared by every node on one Redis: a client that drops from one
node is recovered by whichever node it reconnects to, also after a rolling restart or a crash.

Keys (``P`` = ``redis_prefix``):

- ``P:recovery`` — a stream: every stored emit of every namespace with recovery, in one order
  for the whole cluster. Its entry id is the offset clients get. Every node reads it and
  delivers each entry to its own clients, in stream order (see ``RedisManager``), so no
  client sees two packets in an order that could make it skip or repeat one on recovery.
  Trimmed to about ``recovery_max_packets`` entries and to the longest window.
- ``P:rsess:<pid>`` — a dropped session, kept for its namespace's window; claimed with GETDEL.
- ``P:rlive:<pid>`` — a hash: the session of a live connection (rooms and session data as
  they change) and the node holding it, refreshed by that node and expiring about a window
  after it stops doing so. A client that reconnects to any node before its old connection
  was noticed to be dead (or after its node crashed) claims it from there; the claiming node
  then has the old connection dropped (a bus ``disconnect``). A node only ever removes or
  keeps a live session it still holds, so the old node, when it sees that connection close,
  leaves the new holder's record alone.

While Redis is unreachable, emits are delivered by each node to its own clients without an
offset (recovery of them is impossible, delivery is not delayed), sessions are not kept, and
reconnecting clients connect as new: never an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

from redis import asyncio as aioredis

from socketsvc.config import Settings
from socketsvc.errors import Unencodable, UnsupportedValue
from socketsvc.scaleout import bus
from socketsvc.scaleout.redis_failover import APPEND_ONCE, EPOCH, WAIT_REPLICAS_MS, RecentKeys
from socketsvc.scaleout.redis_health import RedisHealth, redis_client
from socketsvc.scaleout.redis_topology import connection_url
from socketsvc.sio.observer import Observer
from socketsvc.sio.recovery import Session, Stored, Windows

log = logging.getLogger("socketsvc.recovery")

REFRESH_SECONDS = 20.0  # live sessions' keys are re-armed this often
READ_BLOCK_MS = 1000  # below the client's socket timeout
READ_COUNT = 512
START_WAIT = 2.0

# id, namespace, rooms (None: all), skipped sids, event args with the offset last
Entry = tuple[str, str, frozenset[str] | None, frozenset[str], list[Any]]


def stream_key(prefix: str) -> str:
    """The recovery stream of every node configured with ``redis_prefix = prefix``."""
    return f"{prefix}:recovery"


def stream_entry(
    namespace: str,
    rooms: frozenset[str] | None,
    skip: frozenset[str],
    args: list[Any],
    origin: str = "",
) -> dict[str, bytes]:
    """The fields of one stored emit in the recovery stream; ``origin``: the node that wrote
    it (metrics tell its own entries from the others'), empty from an emitter. Packed as bus
    messages are, and raises as :func:`~socketsvc.scaleout.bus.pack` does."""
    body = bus.pack([namespace, None if rooms is None else sorted(rooms), sorted(skip), args])
    return {"m": body, "o": origin.encode()}


def _ids(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class RedisRecovery:
    """The cluster's :class:`~socketsvc.sio.recovery.RecoveryLog` (see module doc)."""

    def __init__(self, settings: Settings, windows: Windows, observer: Observer) -> None:
        self.windows = windows
        self.observer = observer
        self.prefix = settings.redis_prefix
        self.max_packets = settings.recovery_max_packets
        self.longest = max([settings.recovery_window, 120.0, *settings.namespace_recovery.values()])
        self._live: set[str] = set()  # pids of this node's live sessions
        self.node = secrets.token_hex(8)  # who holds a live session
        self.link = RedisHealth("recovery", connection_url(settings), observer)
        self.redis: aioredis.Redis = redis_client(connection_url(settings))
        self.stream = stream_key(self.prefix)
        self._epoch_key = f"{self.stream}:epoch"
        # A node keeps (as dropped) or forgets a live session only while it is its holder.
        self._persist_script = self.redis.register_script(
            "if redis.call('HGET', KEYS[1], 'holder') == ARGV[3] then "
            "redis.call('DEL', KEYS[1]) if tonumber(ARGV[2]) > 0 then "
            "redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]) end end return 0"
        )
        self._claim_live_script = self.redis.register_script(
            "local s = redis.call('HGET', KEYS[1], 'session') "
            "if s then redis.call('DEL', KEYS[1]) end return s"
        )
        self._append_once = self.redis.register_script(APPEND_ONCE)
        self._epoch_script = self.redis.register_script(EPOCH)
        self._appended = 0  # this node's appends, numbered: an append's key
        self._delivered = RecentKeys()
        self.epoch = "0-0"  # offsets before it are from a Redis that restarted empty since
        self.position: str | None = None  # the last entry this node has delivered
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- keys ---------------------------------------------------------------------------------

    def _session_key(self, pid: str) -> str:
        return f"{self.prefix}:rsess:{pid}"

    def _live_key(self, pid: str) -> str:
        return f"{self.prefix}:rlive:{pid}"

    # -- the stream ---------------------------------------------------------------------------

    async def publish(
        self, namespace: str, rooms: frozenset[str] | None, skip: frozenset[str], args: list[Any]
    ) -> str | None:
        """Append a stored emit; its id (the offset), or None when Redis is unreachable.
        Raises as :func:`~socketsvc.scaleout.bus.pack` does for what the stream cannot hold.
        With Sentinel the append is retried through a failover (see redis_failover.py)."""
        if self.link.failover:
            return await self._publish_once(stream_entry(namespace, rooms, skip, args, self.node))
        added = self.redis.xadd(
            self.stream,
            stream_entry(namespace, rooms, skip, args, self.node),  # type: ignore[arg-type]
            maxlen=self.max_packets,
            approximate=True,
        )
        entry_id = await self.link.attempt(added, None)
        if entry_id is None:
            return None
        self.observer.bus_published(1)
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def _publish_once(self, fields: dict[str, bytes]) -> str | None:
        self._appended += 1
        tail = f"{self.node}:{self._appended}"
        key = f"{self.prefix}:rappend:{tail}"
        keep_ms = int(self.link.failover * 2000)

        async def append() -> Any:
            pipe = self.redis.pipeline(transaction=False)
            args: list[Any] = [self.max_packets, fields["m"], fields["o"], keep_ms, tail]
            await self._append_once(keys=[self.stream, key], args=args, client=pipe)
            pipe.wait(1, WAIT_REPLICAS_MS)
            return (await pipe.execute())[0]

        entry_id = await self.link.attempt_through_failover(append, None)
        if entry_id is None:
            return None
        self.observer.bus_published(1)
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def check_epoch(self) -> None:
        """Learn the stream's epoch; when it changed (Redis restarted empty), read the new
        stream from its start and never resume an offset from the old one."""
        raw = await self._epoch_script(keys=[self._epoch_key, self.stream])
        epoch = raw.decode() if isinstance(raw, bytes) else str(raw)
        if epoch != self.epoch and self.epoch != "0-0":
            log.warning(
                "recovery stream reset (Redis restarted without its data): reading the new "
                "stream from its start; sessions from before cannot be recovered"
            )
            self.observer.backend_down("recovery_reset")
            self.position = "0-0"
        self.epoch = epoch

    async def ensure_position(self) -> str:
        """Where this node starts reading: the stream's end when it first could ask."""
        if self.position is None:
            last = await self.redis.xrevrange(self.stream, count=1)
            raw_id = last[0][0] if last else b"0-0"
            self.position = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
        return self.position

    async def read(self) -> list[Entry]:
        """The entries after :attr:`position` (waits up to a second for one)."""
        position = await self.ensure_position()
        # The epoch comes with every read, in the same round trip: a Redis that restarted
        # empty between two reads (even unseen, redis-py reconnects by itself) is noticed
        # before anything of the new stream is delivered.
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self._epoch_key)
        pipe.xread({self.stream: position}, count=READ_COUNT, block=READ_BLOCK_MS)
        epoch, answer = await pipe.execute()
        if epoch is None or epoch.decode() != self.epoch:
            await self.check_epoch()
            return []  # read again from the position it set
        entries: list[Entry] = []
        for _, items in answer or ():
            for raw_id, fields in items:
                if fields.get(b"o") != self.node.encode():
                    self.observer.bus_received()
                if not self._delivered.first(fields.get(b"k", b"")):
                    continue  # appended again after a failover: delivered already
                decoded = self._decode(raw_id, fields)
                if decoded is not None:
                    entries.append(decoded)
        return entries

    def _decode(self, raw_id: Any, fields: Any) -> Entry | None:
        entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
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

    @contextlib.asynccontextmanager
    async def delivering(self) -> AsyncIterator[None]:
        """Held by the node's reader while it delivers a batch (see :meth:`holding`)."""
        async with self._lock:
            yield

    def holding(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self.delivering()

    def head(self, namespace: str) -> str:
        position = self.position or "0-0"
        return self.epoch if _ids(position) < _ids(self.epoch) else position

    # -- sessions -----------------------------------------------------------------------------

    def new_pid(self) -> str:
        return secrets.token_urlsafe(18)

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
        self._live.add(session.pid)
        key = self._live_key(session.pid)
        with contextlib.suppress(Exception):
            pipe = self.redis.pipeline(transaction=True)
            pipe.hset(key, mapping={"holder": self.node, "session": self._pack(session)})
            pipe.pexpire(key, self._live_ttl_ms())
            await pipe.execute()

    async def persist(self, session: Session) -> None:
        await self._release(session, self.windows(session.namespace))

    async def forget(self, session: Session) -> None:
        await self._release(session, 0)

    async def _release(self, session: Session, window: float) -> None:
        """This node no longer holds the session: keep it ``window`` seconds as dropped."""
        self._live.discard(session.pid)
        keys = [self._live_key(session.pid), self._session_key(session.pid)]
        try:
            packed = self._pack(session)
        except (Unencodable, UnsupportedValue) as exc:  # its session data: not Redis's fault
            log.warning("session of sid=%s not kept for recovery: %s", session.sid, exc)
            packed, window = b"", 0
        args: list[Any] = [packed, int(window * 1000), self.node]
        await self.link.attempt(self._persist_script(keys=keys, args=args), None)

    async def claim(self, pid: str, namespace: str) -> Session | None:
        live = False
        raw: Any
        try:
            raw = await self.redis.getdel(self._session_key(pid))
            if raw is None:  # maybe still live somewhere: its node crashed, or has not noticed
                raw = await self._claim_live_script(keys=[self._live_key(pid)])
                live = raw is not None
        except Exception as exc:
            self.link.mark_down(exc)
            return None
        if raw is None:
            return None
        try:
            session = self._unpack(raw)
        except Exception:
            return None
        session.live = live
        return session if session.namespace == namespace else None

    async def pending(self, pid: str) -> bool:
        return bool(await self.link.attempt(self.redis.exists(self._session_key(pid)), 0))

    async def resumable(self, session: Session, offset: str | None) -> bool:
        after = offset if offset is not None else session.start
        if after is None:
            return False
        try:
            if _ids(after) < _ids(self.epoch):
                return False  # from before Redis restarted empty: what followed may be gone
            info = await self.redis.xinfo_stream(self.stream)
        except ValueError:
            return False
        except Exception as exc:
            if "no such key" in str(exc).lower():
                return _ids(after) == (0, 0)
            self.link.mark_down(exc)
            return False
        deleted = info.get("max-deleted-entry-id", b"0-0")
        last = info.get("last-generated-id", b"0-0")
        deleted = deleted.decode() if isinstance(deleted, bytes) else str(deleted)
        last = last.decode() if isinstance(last, bytes) else str(last)
        # Everything after the client's place must still be there, and the place must exist.
        return _ids(deleted) <= _ids(after) <= _ids(last)

    async def missed(self, session: Session, offset: str | None) -> list[list[Any]]:
        after = offset if offset is not None else session.start
        if after is None or self.position is None or _ids(after) >= _ids(self.position):
            return []
        read = self.redis.xrange(self.stream, min=f"({after}", max=self.position)
        items: Any = await self.link.attempt(read, [])
        missed: list[list[Any]] = []
        appended = RecentKeys()
        for raw_id, fields in items:
            if not appended.first(fields.get(b"k", b"")):
                continue
            entry = self._decode(raw_id, fields)
            if entry is None or entry[1] != session.namespace:
                continue
            stored = Stored(entry[0], entry[2], entry[3], entry[4], 0, 0.0)
            if stored.wanted_by(session.sid, session.rooms):
                missed.append(stored.args)
        return missed

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
        for pid in list(self._live):
            pipe.pexpire(self._live_key(pid), self._live_ttl_ms())
        pipe.xtrim(self.stream, minid=self._oldest_kept(), approximate=True)
        await pipe.execute()

    def _oldest_kept(self) -> str:
        """Stream entries older than the longest window can no longer be asked for."""
        ms, _ = _ids(self.position or "0-0")
        return f"{max(0, ms - int(self.longest * 1000))}-0"
