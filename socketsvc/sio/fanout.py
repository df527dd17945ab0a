"""The one place that chooses the room/broadcast backend, and the local fan-out it uses.

:class:`FanoutManager` replaces python-socketio's ``AsyncManager.emit``, which creates one
asyncio task per recipient and encodes for one wire format. Here an emit encodes its packet
once per wire format present among the recipients and queues the same frames on each
recipient's session synchronously.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import socketio

from socketsvc.config import MANAGERS, Settings
from socketsvc.errors import ConfigError
from socketsvc.protocol import packets


class FanoutManager(socketio.AsyncManager):  # type: ignore[misc]
    """In-memory rooms with encode-once-per-format delivery.

    Who sees an emit: every client in ``room`` (or in any of a list of rooms, or in the
    namespace when ``room`` is None) except ``skip_sid``. If the data cannot be encoded for a
    format some recipient uses, nobody receives it and :class:`~socketsvc.packets.Unencodable`
    is raised to the emitter.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # cooperative: RedisManager puts this in its MRO
        # (namespace, sid) -> rooms it is in (None and its own sid room included), in join
        # order: python-socketio finds them by scanning every room of the namespace, which
        # makes each disconnect O(rooms) and a mass disconnect quadratic.
        self._memberships: dict[tuple[str, str], dict[Any, None]] = {}

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self._memberships.setdefault((namespace, sid), {})[room] = None

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        rooms = self._memberships.get((namespace, sid))
        if rooms is not None:
            rooms.pop(room, None)
            if not rooms:
                del self._memberships[(namespace, sid)]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        for room in list(self._memberships.pop((namespace, sid), {})):
            super().basic_leave_room(sid, namespace, room)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            waiting = pending.get(namespace)
            if waiting is not None and sid in waiting:
                waiting.remove(sid)
                if not waiting:
                    del pending[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        return [r for r in self._memberships.get((namespace, sid), {}) if r is not None]

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Callable[..., Any] | None = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        room = to if to is not None else room
        if namespace not in self.rooms:
            return
        args = [event, *_as_args(data)]
        skip = set(skip_sid) if isinstance(skip_sid, list | tuple | set) else {skip_sid}
        server = self.server
        if callback is not None:
            for sid, eio_sid in list(self._recipients(namespace, room, skip)):
                ack_id = self._generate_ack_id(sid, callback)
                server.eio.push(
                    eio_sid,
                    packets.encode_frames(
                        server.wire_of(eio_sid), packets.EVENT, namespace, args, ack_id
                    ),
                )
            return
        groups: dict[packets.PacketClass, list[str]] = {}
        for _, eio_sid in self._recipients(namespace, room, skip):
            wire = server.wire_of(eio_sid)
            group = groups.get(wire)
            if group is None:
                group = groups[wire] = []
            group.append(eio_sid)
        encoded = {
            wire: packets.encode_frames(wire, packets.EVENT, namespace, args) for wire in groups
        }
        volatile = bool(kwargs.get("volatile"))  # dropped for clients with a backlog
        for wire, eio_sids in groups.items():
            if len(eio_sids) == 1:
                server.eio.push(eio_sids[0], encoded[wire], volatile)
            else:
                server.eio.push_many(eio_sids, encoded[wire], volatile)

    def _recipients(self, namespace: str, room: Any, skip: set[Any]) -> Iterator[tuple[str, str]]:
        rooms = self.rooms[namespace]
        if room is None or isinstance(room, str):
            members = rooms.get(room)
            if members is not None:
                for sid, eio_sid in members._fwdm.items():
                    if sid not in skip:
                        yield sid, eio_sid
            return
        seen: set[str] = set()
        for name in room:
            for sid, eio_sid in rooms.get(name, {}).items():
                if sid not in skip and sid not in seen:
                    seen.add(sid)
                    yield sid, eio_sid


def _as_args(data: Any) -> list[Any]:
    if isinstance(data, tuple):
        return list(data)
    return [] if data is None else [data]


def _memory(settings: Settings) -> socketio.AsyncManager:
    return FanoutManager()


def _redis(settings: Settings) -> socketio.AsyncManager:
    from socketsvc.scaleout.redis_manager import RedisManager  # imports this module

    return RedisManager(settings.redis_url, settings.redis_prefix)


FACTORIES: dict[str, Callable[[Settings], socketio.AsyncManager]] = {
    "memory": _memory,
    "redis": _redis,
}
assert set(FACTORIES) == set(MANAGERS)


def make_manager(settings: Settings) -> socketio.AsyncManager:
    """Single node, in memory, unless configured otherwise (``redis``: shared by all nodes)."""
    try:
        factory = FACTORIES[settings.manager]
    except KeyError:
        raise ConfigError(
            f"manager: {settings.manager!r} is not one of {', '.join(FACTORIES)}"
        ) from None
    return factory(settings)
