"""The built-in ``/chat`` namespace: rooms of people exchanging text messages.

Wire contract (client code relies on it):

- ``join {room, name}`` -> ack ``{room, members}``; others in the room get ``joined {room, name}``.
  A connection with a token is named by its ``name_claim`` (else ``sub``); the ``name`` it sends
  is then ignored, so nobody can speak as another identity. Rooms starting with
  ``private_room_prefix`` need a token whose ``rooms_claim`` lists them (``forbidden`` otherwise).
- ``message {room, text}`` -> ack ``{id, ts}``; others get ``message {id, room, name, text, ts}``.
- ``leave {room}`` -> ack ``{room}``; others get ``left {room, name}``. Disconnecting leaves all.
- ``typing {room}`` -> others get ``typing {room, name}`` (volatile: dropped for slow readers).
- ``members {room}`` -> ack ``{room, members}``.

Errors come back as ``{"error": {code, message}}``; speaking in or listing a room one has not
joined is ``not_in_room``. Rooms, names and texts must be valid Unicode (``invalid_payload``
naming the field otherwise): a lone surrogate could reach no msgpack client.

``joined``/``left``/``typing`` are announcements: a join or leave is done once it is recorded,
and its ack says so even if the announcement could not reach some client (the fan-out logs
that once); a ``message`` that some format could not carry is answered ``unencodable``.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from socketsvc import errors
from socketsvc.errors import InvalidPayload, SocketsvcError, Unencodable
from socketsvc.handlers.base import BaseNamespace
from socketsvc.handlers.schema import NOT_UNICODE, Length, Pattern
from socketsvc.protocol.json_format import has_lone_surrogate

Room = Annotated[str, Length(1, 64), Pattern(r"[^\x00-\x1f]+")]
Name = Annotated[str, Length(1, 32), Pattern(r"[^\x00-\x1f]+")]


@dataclass(frozen=True)
class JoinRequest:
    room: Room
    name: Name | None = None  # required without a token


@dataclass(frozen=True)
class MessageRequest:
    room: Room
    text: Annotated[str, Length(1, 4000)]


@dataclass(frozen=True)
class RoomRequest:
    room: Room


def now_ms() -> int:
    return int(time.time() * 1000)


class ChatNamespace(BaseNamespace):
    """Chat rooms; display names are kept per room in the node's presence store."""

    async def can_join(self, sid: str, room: str) -> bool:
        prefix = self.services.settings.private_room_prefix
        if not prefix or not room.startswith(prefix):
            return True
        identity = self.identity(sid)
        return identity is not None and identity.listed(self.services.settings.rooms_claim, room)

    def _display_name(self, sid: str, req: JoinRequest) -> str:
        identity = self.identity(sid)
        if identity is not None:
            name = identity.display_name(self.services.settings.name_claim)
            if name is not None:
                if has_lone_surrogate(name):
                    raise InvalidPayload("name", "from the token " + NOT_UNICODE)
                return name
        if req.name is None:
            raise SocketsvcError(errors.INVALID_PAYLOAD, "'name' is required")
        return req.name

    async def on_join(self, sid: str, req: JoinRequest) -> dict[str, Any]:
        presence = self.services.presence
        name = self._display_name(sid, req)
        rejoin = await presence.name_of(self.namespace, req.room, sid) is not None
        await self.join(sid, req.room)
        await presence.add(self.namespace, req.room, sid, name)
        if not rejoin:
            await self._announce("joined", {"room": req.room, "name": name}, req.room, sid)
        return {"room": req.room, "members": await presence.members(self.namespace, req.room)}

    async def on_message(self, sid: str, req: MessageRequest) -> dict[str, Any]:
        name = await self._name_in(sid, req.room)
        message = {
            "id": uuid.uuid4().hex,
            "room": req.room,
            "name": name,
            "text": req.text,
            "ts": now_ms(),
        }
        await self.emit("message", message, to=req.room, skip_sid=sid)
        return {"id": message["id"], "ts": message["ts"]}

    async def on_leave(self, sid: str, req: RoomRequest) -> dict[str, Any]:
        await self._name_in(sid, req.room)
        await self._depart(sid, req.room)
        await self.leave(sid, req.room)
        return {"room": req.room}

    async def on_typing(self, sid: str, req: RoomRequest) -> None:
        name = await self._name_in(sid, req.room)
        await self.emit(
            "typing", {"room": req.room, "name": name}, to=req.room, skip_sid=sid, volatile=True
        )

    async def on_members(self, sid: str, req: RoomRequest) -> dict[str, Any]:
        await self._name_in(sid, req.room)
        return {
            "room": req.room,
            "members": await self.services.presence.members(self.namespace, req.room),
        }

    async def on_disconnect(self, sid: str, reason: str) -> None:
        for room in self.rooms_of(sid):
            await self._depart(sid, room)

    async def _name_in(self, sid: str, room: str) -> str:
        name = await self.services.presence.name_of(self.namespace, room, sid)
        if name is None:
            raise SocketsvcError(errors.NOT_IN_ROOM, f"join room '{room}' first")
        return name

    async def _depart(self, sid: str, room: str) -> None:
        name = await self.services.presence.remove(self.namespace, room, sid)
        if name is not None:
            await self._announce("left", {"room": room, "name": name}, room, sid)

    async def _announce(self, event: str, data: dict[str, Any], room: str, sid: str) -> None:
        """Tell the rest of the room; what some client cannot receive was logged by the
        fan-out and does not undo what was announced."""
        with contextlib.suppress(Unencodable):
            await self.emit(event, data, to=room, skip_sid=sid)
