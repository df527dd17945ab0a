"""Connection-state recovery in the keys of Node's ``@socket.io/redis-streams-adapter`` 0.3, so a
client that drops from a Node node is recovered by a socketsvc node and the other way round.

- The stream is ``<redis_prefix>`` (the adapter's ``streamName``, ``socket.io`` by default);
  an entry is ``{uid, nsp, type, data}`` (:mod:`socketsvc.scaleout.sio_streams`), and its id
  is the offset clients get, whichever node wrote it. Emits of a namespace with recovery are
  type 3 (BROADCAST) entries; every node delivers them from the stream, with their offset.
- A dropped session is ``sio:session:<pid>`` (the adapter's ``sessionKeyPrefix``): base64 of
  msgpack ``{sid, pid, rooms, data}``, kept for the window in milliseconds (``PX``). socketsvc
  adds ``nsp`` and ``start``, which Node ignores; a session Node wrote has no ``nsp`` and is
  restored in whichever namespace its client asks for, as Node does. One claimed in another
  namespace than its own is kept again, as it was.
- socketsvc's own live-session records (``<prefix>:rlive:<nsp>:<pid>``) stay as they are: a
  client whose socketsvc node crashed is recovered from there. A claim moves the session
  from ``sio:session:<pid>`` (where a Node node finds it too) to that record in one step.

Everything else (claims, trimming, resumability, the read position, paced replay) is
:class:`RedisRecovery`'s.
"""

from __future__ import annotations

import base64
from typing import Any

from socketsvc.config import Settings
from socketsvc.scaleout import bus
from socketsvc.scaleout.redis_recovery import RedisRecovery
from socketsvc.scaleout.sio_requests import node_unpack, str_list
from socketsvc.scaleout.sio_streams import decode_entry
from socketsvc.scaleout.sio_streams_format import BROADCAST
from socketsvc.sio.observer import Observer
from socketsvc.sio.recovery import Session, Windows

SESSION_PREFIX = "sio:session:"  # the streams adapter's default sessionKeyPrefix


class StreamsRecovery(RedisRecovery):
    """The cluster's recovery log in the Streams adapter's stream and session keys."""

    def __init__(self, settings: Settings, windows: Windows, observer: Observer) -> None:
        super().__init__(settings, windows, observer)
        self.stream = settings.redis_prefix
        self.uid = self.node  # this node's uid in stream entries

    def _keys(self, session: Session) -> list[str]:
        live, _ = super()._keys(session)
        return [live, f"{SESSION_PREFIX}{session.pid}"]

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

    async def add(self, fields: dict[str, str]) -> str | None:
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

    @staticmethod
    def _fits(session: Session, namespace: str) -> bool:
        return not session.namespace or session.namespace == namespace  # Node's: any

    def _wanted(self, session: Session, raw_id: Any, fields: Any) -> list[Any] | None:
        """A BROADCAST entry of the session's namespace that its client would have received
        (Node's rule: in one of its rooms, in none of the excepted): its arguments, id last."""
        message = decode_entry(fields)
        if message is None or message["type"] != BROADCAST or message["nsp"] != session.namespace:
            return None
        data = message["data"]
        packet, opts = data.get("packet"), data.get("opts") or {}
        if not isinstance(packet, dict) or not isinstance(packet.get("data"), list):
            return None
        if _volatile(opts) or "id" in packet:  # delivered without an offset: never stored
            return None
        mine = {session.sid, *session.rooms}
        rooms, skip = str_list(opts.get("rooms")), str_list(opts.get("except"))
        if (rooms and not mine.intersection(rooms)) or mine.intersection(skip):
            return None
        entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
        return [*packet["data"], entry_id]


def _volatile(opts: Any) -> bool:
    flags = opts.get("flags") if isinstance(opts, dict) else None
    return isinstance(flags, dict) and flags.get("volatile") is not None
