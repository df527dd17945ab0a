"""Connection-state recovery in the keys of Node's ``@socket.io/redis-streams-adapter`` 0.3, so a
client that drops from a Node node is recovered by a socketsvc node and the other way round.

- The stream is ``<redis_prefix>`` (the adapter's ``streamName``, ``socket.io`` by default);
  an entry is ``{uid, nsp, type, data}`` (:mod:`socketsvc.scaleout.sio_streams`), and its id
  is the offset clients get, whichever node wrote it. Emits of a namespace with recovery are
  type 3 (BROADCAST) entries; every node delivers them from the stream, with their offset.
- A dropped session is ``sio:session:<pid>`` (the adapter's ``sessionKeyPrefix``): base64 of
  msgpack ``{sid, pid, rooms, data}``, kept for the window in milliseconds (``PX``), taken
  with GETDEL. socketsvc adds ``nsp`` and ``start``, which Node ignores; a session Node wrote
  has no ``nsp`` and is restored in whichever namespace its client asks for, as Node does.
- socketsvc's own live-session records (``<prefix>:rlive:<pid>``) stay as they are: a client
  whose socketsvc node crashed is recovered from there.

Everything else (trimming, resumability, the read position) is :class:`RedisRecovery`'s.
"""

from __future__ import annotations

import base64
from typing import Any

from socketsvc.config import Settings
from socketsvc.scaleout import bus
from socketsvc.scaleout.redis_recovery import RedisRecovery, _ids
from socketsvc.scaleout.sio_requests import node_unpack, str_list
from socketsvc.scaleout.sio_streams import decode_entry
from socketsvc.scaleout.sio_streams_format import BROADCAST, encode_entry
from socketsvc.sio.observer import Observer
from socketsvc.sio.recovery import Session, Windows

SESSION_PREFIX = "sio:session:"  # the streams adapter's default sessionKeyPrefix


class StreamsRecovery(RedisRecovery):
    """The cluster's recovery log in the Streams adapter's stream and session keys."""

    def __init__(self, settings: Settings, windows: Windows, observer: Observer) -> None:
        super().__init__(settings, windows, observer)
        self.stream = settings.redis_prefix
        self.uid = self.node  # this node's uid in stream entries

    def _session_key(self, pid: str) -> str:
        return f"{SESSION_PREFIX}{pid}"

    def _pack(self, session: Session) -> bytes:  # type: ignore[override]
        fields = {
            "sid": session.sid,
            "pid": session.pid,
            "rooms": [session.sid, *session.rooms],  # Node's socket.rooms has its own id
            "data": {} if session.data is None else session.data,
            "nsp": session.namespace,
            "start": session.start,
        }
        return base64.b64encode(bus.pack(fields))

    def _unpack(self, raw: bytes) -> Session:  # type: ignore[override]
        value = node_unpack(base64.b64decode(raw))
        sid, pid = value["sid"], value["pid"]
        rooms = [r for r in str_list(value.get("rooms")) if r != sid]
        start = value.get("start") if isinstance(value.get("start"), str) else None
        return Session(pid, sid, value.get("nsp") or "", rooms, value.get("data"), start)

    async def publish(
        self, namespace: str, rooms: frozenset[str] | None, skip: frozenset[str], args: list[Any]
    ) -> str | None:
        """Append a stored emit as a Node BROADCAST entry; its id, or None without Redis."""
        data = {
            "packet": {"type": 2, "data": args, "nsp": namespace},
            "opts": {"rooms": sorted(rooms or ()), "except": sorted(skip), "flags": {}},
        }
        return await self.append(encode_entry(self.uid, namespace, BROADCAST, data))

    async def append(self, fields: dict[str, str]) -> str | None:
        """XADD one entry (trimmed as Node trims it); its id, or None without Redis."""
        added = self.redis.xadd(self.stream, fields, maxlen=self.max_packets, approximate=True)  # type: ignore[arg-type]
        entry_id = await self.link.attempt(added, None)
        if entry_id is None:
            return None
        self.observer.bus_published(1)
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def read_entries(self) -> list[tuple[str, dict[str, Any] | None]]:
        """The entries after :attr:`position` (waits up to a second): id and message (None:
        not a message of the adapter's format)."""
        position = await self.ensure_position()
        answer: Any = await self.redis.xread({self.stream: position}, count=512, block=1000)
        entries = []
        for _, items in answer or ():
            for raw_id, fields in items:
                entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                entries.append((entry_id, decode_entry(fields)))
        return entries

    async def claim(self, pid: str, namespace: str) -> Session | None:
        """The dropped session ``pid`` (written by a socketsvc node or a Node node), or the
        live one of a crashed socketsvc node."""
        live = False
        raw: Any
        try:
            raw = await self.redis.getdel(self._session_key(pid))
            if raw is None:
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
        if session.namespace and session.namespace != namespace:
            return None
        session.namespace = namespace
        return session

    async def missed(self, session: Session, offset: str | None) -> list[list[Any]]:
        """The BROADCAST entries of the session's namespace after ``offset`` that its client
        would have received (Node's rule: in one of its rooms, in none of the excepted)."""
        after = offset if offset is not None else session.start
        if after is None or self.position is None or _ids(after) >= _ids(self.position):
            return []
        read = self.redis.xrange(self.stream, min=f"({after}", max=self.position)
        items: Any = await self.link.attempt(read, [])
        mine = {session.sid, *session.rooms}
        missed: list[list[Any]] = []
        for raw_id, fields in items:
            message = decode_entry(fields)
            if (
                message is None
                or message["type"] != BROADCAST
                or message["nsp"] != session.namespace
            ):
                continue
            data = message["data"]
            packet, opts = data.get("packet"), data.get("opts") or {}
            if not isinstance(packet, dict) or not isinstance(packet.get("data"), list):
                continue
            rooms, skip = str_list(opts.get("rooms")), str_list(opts.get("except"))
            if (not rooms or mine.intersection(rooms)) and not mine.intersection(skip):
                entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                missed.append([*packet["data"], entry_id])
        return missed
