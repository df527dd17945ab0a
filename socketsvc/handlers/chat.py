"""The built-in ``/chat`` namespace: rooms of people exchanging text messages.

Wire contract (client code relies on it):

- ``join {room, name, history?}`` -> ack ``{room, members}`` (plus ``history``, the room's latest
  messages, oldest first, when ``history`` asks for up to that many); others in the room get
  ``joined {room, name}``. A connection with a token is named by its ``name_claim`` (else
  ``sub``); the ``name`` it sends is then ignored, so nobody can speak as another identity.
  Rooms starting with ``private_room_prefix`` need a token whose ``rooms_claim`` lists them
  (``forbidden`` otherwise); a connection that refreshes its token (``auth:refresh``) to one
  that no longer lists a room it is in leaves it, and the others get ``left``.
- ``message {room, text, client_id?}`` -> ack ``{id, ts}``; others get
  ``message {id, room, name, text, ts}``. A send repeated with the same ``client_id`` (a retry
  after a lost ack) within ``chat_retry_window`` is answered with the first ack and not sent
  again.
- ``leave {room}`` -> ack ``{room}``; others get ``left {room, name}``. Disconnecting leaves all,
  except that a client that dropped without meaning to is given the recovery window to come
  back: it stays a member meanwhile, and neither ``left`` nor ``joined`` is announced when it
  does.
- ``typing {room}`` -> others get ``typing {room, name}`` (volatile: dropped for slow readers).
- ``members {room}`` -> ack ``{room, members}``.

With recovery (on by default here, 120 s), every stored event carries its offset as an extra
last argument (see README "Connection-state recovery").

Errors come back as ``{"error": {code, message}}``; speaking in or listing a room one has not
joined is ``not_in_room``. Rooms, names and texts must be valid Unicode (``invalid_payload``
naming the field otherwise): a lone surrogate could reach no msgpack client.

``joined``/``left``/``typing`` are announcements: a join or leave is done once it is recorded,
and its ack says so even if the announcement could not reach some client (the fan-out logs
that once); a ``message`` that some format could not carry is answered ``unencodable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, NotRequired, TypedDict, cast

from socketsvc import errors
from socketsvc.errors import InvalidPayload, SocketsvcError, Unencodable
from socketsvc.handlers.base import BaseNamespace
from socketsvc.handlers.events import ServerEvent
from socketsvc.handlers.schema import NOT_UNICODE, Length, Pattern
from socketsvc.handlers.services import Services
from socketsvc.protocol.json_format import has_lone_surrogate
from socketsvc.sio.once import Once

Room = Annotated[str, Length(1, 64), Pattern(r"[^\x00-\x1f]+")]
Name = Annotated[str, Length(1, 32), Pattern(r"[^\x00-\x1f]+")]


@dataclass(frozen=True)
class JoinRequest:
    room: Room
    name: Name | None = None  # required without a token
    history: int | None = None  # how many of the room's latest messages to send back


@dataclass(frozen=True)
class MessageRequest:
    room: Room
    text: Annotated[str, Length(1, 4000)]
    client_id: Annotated[str, Length(1, 64)] | None = None  # the same for every retry


@dataclass(frozen=True)
class RoomRequest:
    room: Room


class ChatMessage(TypedDict):
    """A message as the room receives it (and as ``history`` returns it)."""

    id: str  # server-assigned, hex
    room: str
    name: str
    text: str
    ts: int  # server time, milliseconds since the epoch


class RoomMember(TypedDict):
    """Someone in a room: who joined, left or is typing."""

    room: str
    name: str


class JoinAck(TypedDict):
    room: str
    members: list[str]  # display names, the caller's included
    history: NotRequired[list[ChatMessage]]  # when the join asked for it, oldest first


class MessageAck(TypedDict):
    id: str
    ts: int


class LeaveAck(TypedDict):
    room: str


class MembersAck(TypedDict):
    room: str
    members: list[str]


def now_ms() -> int:
    return int(time.time() * 1000)


class ChatNamespace(BaseNamespace):
    """Chat rooms; display names are kept per room in the presence store (and in the
    connection's session, which recovery restores)."""

    recovery_window = 120.0

    joined = ServerEvent[RoomMember](doc="someone joined a room you are in")
    left = ServerEvent[RoomMember](doc="someone left a room you are in (or did not come back)")
    message = ServerEvent[ChatMessage](doc="a message in a room you are in")
    typing = ServerEvent[RoomMember](doc="someone is typing (best effort, volatile)")

    def __init__(self, namespace: str, services: Services) -> None:
        super().__init__(namespace, services)
        self._away: dict[str, asyncio.TimerHandle] = {}  # sids that may come back

    async def can_join(self, sid: str, room: str) -> bool:
        prefix = self.services.settings.private_room_prefix
        if not prefix or not room.startswith(prefix):
            return True
        identity = self.identity(sid)
        return identity is not None and identity.listed(self.services.settings.rooms_claim, room)

    async def on_room_revoked(self, sid: str, room: str) -> None:
        """A refreshed token no longer lists ``room``: out of it, and the others are told."""
        await self._depart(sid, room)
        await self.leave(sid, room)

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

    async def on_join(self, sid: str, req: JoinRequest) -> JoinAck:
        """Join a room (named by the token, else by ``name``); the room is told ``joined``.
        The ack lists its members, and its latest messages when ``history`` asks."""
        presence = self.services.presence
        name = self._display_name(sid, req)
        rejoin = await presence.name_of(self.namespace, req.room, sid) is not None
        await self.join(sid, req.room)
        await presence.add(self.namespace, req.room, sid, name)
        async with self.session(sid) as session:
            session.setdefault("names", {})[req.room] = name
        if not rejoin:
            await self._announce(self.joined, {"room": req.room, "name": name}, req.room, sid)
        ack: JoinAck = {
            "room": req.room,
            "members": await presence.members(self.namespace, req.room),
        }
        if req.history:
            count = min(req.history, self.services.settings.chat_history)
            history = await self.services.archive.recent(self.namespace, req.room, count)
            ack["history"] = cast("list[ChatMessage]", history)  # what on_message appended
        return ack

    async def on_message(self, sid: str, req: MessageRequest) -> MessageAck:
        """Say something in a room; a retry with the same ``client_id`` is answered with the
        first ack and not delivered again."""
        name = await self._name_in(sid, req.room)
        message: ChatMessage = {
            "id": uuid.uuid4().hex,
            "room": req.room,
            "name": name,
            "text": req.text,
            "ts": now_ms(),
        }
        ack: MessageAck = {"id": message["id"], "ts": message["ts"]}
        once = None
        if req.client_id is not None:
            key = f"{self._sender(sid)}:{req.client_id}"
            once = Once(key, ack, self.services.settings.chat_retry_window)
        await self.emit(self.message, message, to=req.room, skip_sid=sid, once=once)
        if once is not None and once.earlier is not None:
            return cast(MessageAck, once.earlier)  # a retry of a message already sent
        stored = cast("dict[str, Any]", message)  # (a cast by name: no typing object per message)
        await self.services.archive.append(self.namespace, req.room, stored)
        return ack

    def _sender(self, sid: str) -> str:
        """Who sends, for retries: the token's subject, else the recoverable session (which
        survives reconnects), else the connection."""
        identity = self.identity(sid)
        if identity is not None and identity.subject is not None:
            return f"sub:{identity.subject}"
        pid = self.door.session_pid(sid)
        return f"pid:{pid}" if pid is not None else f"sid:{sid}"

    async def on_leave(self, sid: str, req: RoomRequest) -> LeaveAck:
        """Leave a room; the room is told ``left``."""
        await self._name_in(sid, req.room)
        await self._depart(sid, req.room)
        await self.leave(sid, req.room)
        return {"room": req.room}

    async def on_typing(self, sid: str, req: RoomRequest) -> None:
        """Tell a room one is typing (best effort, no ack needed)."""
        name = await self._name_in(sid, req.room)
        await self.emit(
            self.typing, {"room": req.room, "name": name}, to=req.room, skip_sid=sid, volatile=True
        )

    async def on_members(self, sid: str, req: RoomRequest) -> MembersAck:
        """The display names in a room one is in."""
        await self._name_in(sid, req.room)
        return {
            "room": req.room,
            "members": await self.services.presence.members(self.namespace, req.room),
        }

    async def after_connect(self, sid: str) -> None:
        if not self.recovered(sid):
            return
        # Back within the window: a member all along. Its rooms came back with the session;
        # presence is set again in case it came back to another node.
        away = self._away.pop(sid, None)
        if away is not None:
            away.cancel()
        names = (await self.get_session(sid) or {}).get("names", {})
        for room in self.rooms_of(sid):
            if room in names:
                await self.services.presence.add(self.namespace, room, sid, names[room])

    async def on_disconnect(self, sid: str, reason: str) -> None:
        rooms = self.rooms_of(sid)
        if self.may_come_back(sid, reason) and rooms:
            window = self.door.recovery_window(self.namespace)
            loop = asyncio.get_running_loop()
            self._away[sid] = loop.call_later(window, self._start_gone, sid, rooms)
            return
        for room in rooms:
            await self._depart(sid, room)

    def _start_gone(self, sid: str, rooms: list[str]) -> None:
        self._away.pop(sid, None)
        self.door.start(self._gone(sid, rooms))

    async def _gone(self, sid: str, rooms: list[str]) -> None:
        """The window passed: unless the client came back (here or on another node), it left."""
        if self.door.is_connected(sid, self.namespace):
            return
        presence = self.services.presence
        for room in rooms:
            name = await presence.remove(self.namespace, room, sid)
            if name is not None and not await presence.has(self.namespace, room, sid):
                await self._announce(self.left, {"room": room, "name": name}, room, sid)

    async def _name_in(self, sid: str, room: str) -> str:
        name = await self.services.presence.name_of(self.namespace, room, sid)
        if name is None:
            raise SocketsvcError(errors.NOT_IN_ROOM, f"join room '{room}' first")
        return name

    async def _depart(self, sid: str, room: str) -> None:
        name = await self.services.presence.remove(self.namespace, room, sid)
        if name is not None:
            await self._announce(self.left, {"room": room, "name": name}, room, sid)

    async def _announce(
        self, event: ServerEvent[RoomMember], data: RoomMember, room: str, sid: str
    ) -> None:
        """Tell the rest of the room; what some client cannot receive was logged by the
        fan-out and does not undo what was announced."""
        with contextlib.suppress(Unencodable):
            await self.emit(event, data, to=room, skip_sid=sid)
