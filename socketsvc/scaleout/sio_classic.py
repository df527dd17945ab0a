"""``redis_protocol = "socket.io"``: the messages of Node's ``@socket.io/redis-adapter`` 8.x
and of every ``@socket.io/redis-emitter`` (``key`` = ``redis_prefix``, ``socket.io`` by default).

- Broadcasts: msgpack ``[uid, packet, {rooms, except, flags}]`` on ``<key>#<nsp>#``, or
  ``<key>#<nsp>#<room>#`` for exactly one room; ``packet`` is ``{type: 2, data, nsp}`` with
  binary inside. Nodes PSUBSCRIBE ``<key>#*`` (one pattern for every namespace; the packet
  names its namespace), so the pre-2016 emitters that publish the same array on
  ``<key>#emitter`` are taken too (Node ignores those).
- Requests on ``<key>-request#<nsp>#`` (JSON or msgpack), answers on
  ``<key>-response#<nsp>#`` (and ``...#<uid>#`` when the asker wants it there): SOCKETS=0,
  ALL_ROOMS=1, REMOTE_JOIN=2, REMOTE_LEAVE=3, REMOTE_DISCONNECT=4, REMOTE_FETCH=5,
  SERVER_SIDE_EMIT=6, BROADCAST=7 (with acks), BROADCAST_CLIENT_COUNT=8, BROADCAST_ACK=9.
  This node writes msgpack (Node reads both), so binary crosses as binary.

Connection-state recovery among socketsvc nodes keeps working (Node's classic adapter has
none): an emit in a namespace with recovery goes through socketsvc's recovery stream, as
with ``redis_protocol = "socketsvc"`` (scaleout/redis_stream.py: this node's clients get it
as it is appended, the other socketsvc nodes' as they read the stream), and is also published
for the Node nodes with the flag ``socketsvcStored``, which socketsvc nodes skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any, TypeGuard

from socketsvc.errors import Unencodable
from socketsvc.scaleout import bus
from socketsvc.scaleout.redis_channels import escape_pattern
from socketsvc.scaleout.redis_recovery import RedisRecovery
from socketsvc.scaleout.redis_stream import StreamFeed
from socketsvc.scaleout.sio_classic_format import (
    ALL_ROOMS,
    BINARY_EVENT,
    BROADCAST,
    BROADCAST_ACK,
    BROADCAST_CLIENT_COUNT,
    EVENT,
    KINDS,
    REMOTE_DISCONNECT,
    REMOTE_FETCH,
    REMOTE_JOIN,
    REMOTE_LEAVE,
    SERVER_SIDE_EMIT,
    SOCKETS,
    STORED,
)
from socketsvc.scaleout.sio_node import NodeFormatManager
from socketsvc.scaleout.sio_requests import node_unpack, str_list
from socketsvc.sio.observer import Observer
from socketsvc.sio.once import Once
from socketsvc.sio.recovery import skipped, target

CONNECTION = "socketsvcConnection"  # a disconnect for one connection of the sid (Node ignores it)


class ClassicManager(NodeFormatManager):
    """Rooms and broadcasts shared with Node nodes on ``@socket.io/redis-adapter``."""

    name = "socket.io-redis"

    def __init__(
        self, url: str, key: str, stream: RedisRecovery | None, observer: Observer
    ) -> None:
        super().__init__(url, key, observer, "socket.io channels", [f"{escape_pattern(key)}#*"])
        self.key = key
        self.feed = None if stream is None else StreamFeed(stream, self.deliver)

    # -- channels -----------------------------------------------------------------------------

    def request_channel(self, namespace: str) -> str:
        return f"{self.key}-request#{namespace}#"

    def response_channel(self, namespace: str) -> str:
        return f"{self.key}-response#{namespace}#"

    def namespace_channels(self, namespace: str) -> list[str]:
        response = self.response_channel(namespace)
        return [self.request_channel(namespace), response, f"{response}{self.uid}#"]

    def count_channel(self, namespace: str) -> str:
        return self.request_channel(namespace)

    def background(self) -> list[asyncio.Task[None]]:
        if self.feed is None:
            return []
        return [
            asyncio.create_task(self.feed.run_reader(), name="socketsvc-recovery-reader"),
            asyncio.create_task(self.feed.run_appender(), name="socketsvc-recovery-appender"),
        ]

    async def stop(self) -> None:
        if self.feed is not None:
            self.feed.stop()  # emits still waiting are delivered here, without an offset
        await super().stop()

    # -- this node's messages -----------------------------------------------------------------

    async def broadcast(
        self,
        namespace: str,
        rooms: list[str],
        skip: list[str],
        args: list[Any],
        volatile: bool,
        once: Once | None = None,
    ) -> None:
        packet = {"type": EVENT, "data": args, "nsp": namespace}
        flags: dict[str, Any] = {"volatile": True} if volatile else {}
        feed = self.feed
        if feed is not None and not volatile and feed.stream.windows(namespace):
            room = rooms[0] if len(rooms) == 1 else (rooms or None)
            try:  # what the stream cannot keep is sent to nobody: none could recover it
                fields = feed.stream.entry(namespace, target(room), skipped(skip), args)
            except Unencodable as exc:
                self.log_refusal(exc.cause, "not sent in %s: %s", namespace, exc.message)
                raise
            stored = True  # also when some format of this node refused it
            try:
                stored = bool(await feed.emit(namespace, room, skip, args, fields, once))
            finally:  # socketsvc nodes read it from the stream, Node nodes get it from here
                if stored:
                    self._publish_broadcast(namespace, rooms, skip, packet, {STORED: True})
            return
        if once is not None and not await self.first(namespace, once):
            return  # sent already: once.earlier holds its answer
        failure: Unencodable | None = None
        try:
            raw: bytes | None = self._broadcast_bytes(rooms, skip, packet, flags)
        except Unencodable as exc:
            raw, failure = None, exc
            self.log_refusal(exc.cause, "not published to other nodes: %s", exc.message)
        try:
            room = rooms[0] if len(rooms) == 1 else (rooms or None)
            self.deliver(namespace, room, skip, args, volatile)
        finally:
            if raw is not None:
                self.outbox.put(self._broadcast_channel(namespace, rooms), raw)
        if failure is not None:
            raise failure

    def _broadcast_channel(self, namespace: str, rooms: list[str]) -> str:
        room = f"{rooms[0]}#" if len(rooms) == 1 else ""
        return f"{self.key}#{namespace}#{room}"

    def _broadcast_bytes(
        self, rooms: list[str], skip: list[str], packet: dict[str, Any], flags: dict[str, Any]
    ) -> bytes:
        return bus.pack([self.uid, packet, {"rooms": rooms, "except": skip, "flags": flags}])

    def _publish_broadcast(
        self,
        namespace: str,
        rooms: list[str],
        skip: list[str],
        packet: dict[str, Any],
        flags: dict[str, Any],
    ) -> None:
        with contextlib.suppress(Unencodable):  # the stream took it: it is packable
            raw = self._broadcast_bytes(rooms, skip, packet, flags)
            self.outbox.put(self._broadcast_channel(namespace, rooms), raw)

    def send_request(
        self, namespace: str, kind: str, rid: str | None, body: dict[str, Any]
    ) -> None:
        message: dict[str, Any] = {"uid": self.uid, "type": KINDS[kind]}
        if rid is not None:
            message["requestId"] = rid
        options = {"rooms": body.get("rooms", []), "except": body.get("except", [])}
        if kind == "server_side":
            message["data"] = body["args"]
        elif kind == "ack_broadcast":
            message["packet"] = {"type": EVENT, "data": body["args"], "nsp": namespace}
            message["opts"] = {**options, "flags": {}}
        else:
            message["opts"] = options
            if kind == "disconnect":
                message["close"] = bool(body.get("close"))
                if "connection" in body:  # socketsvc nodes: only that connection
                    message[CONNECTION] = body["connection"]
            elif kind in ("join", "leave"):
                message["rooms"] = body.get("leave") or body.get("join") or []
        try:
            self.outbox.put(self.request_channel(namespace), bus.pack(message))
        except Unencodable as exc:
            self.log_refusal(exc.cause, "request not published to other nodes: %s", exc.message)

    def _reply(self, namespace: str, message: dict[str, Any]) -> None:
        try:
            self.outbox.put(self.response_channel(namespace), bus.pack(message))
        except Unencodable as exc:  # what the handler answered: it gets the error instead
            self.log_refusal(exc.cause, "answer not published: %s", exc.message)
            error = {"error": {"code": exc.code, "message": exc.message}}
            self.outbox.put(self.response_channel(namespace), bus.pack({**message, "data": error}))

    # -- what arrives ---------------------------------------------------------------------------

    async def on_message(self, channel: str, raw: bytes, pattern: str | None) -> None:
        if pattern is not None:
            self._on_broadcast(raw)
            return
        kind, _, namespace = channel.partition("#")
        namespace = namespace[:-1] if namespace.endswith("#") else namespace
        try:
            message = json.loads(raw) if raw[:1] == b"{" else node_unpack(raw)
        except Exception as exc:
            self.bad("undecodable message", type(exc).__name__)
            return
        if not isinstance(message, dict):
            self.bad("not a map")
            return
        if kind == f"{self.key}-response":
            self._on_response(namespace.split("#", 1)[0], message)
        elif message.get("uid") != self.uid:
            self.observer.bus_received()
            await self._on_request(namespace, message)

    def _on_broadcast(self, raw: bytes) -> None:
        try:
            decoded = node_unpack(raw)
        except Exception as exc:
            self.bad("undecodable broadcast", type(exc).__name__)
            return
        if not isinstance(decoded, list) or len(decoded) < 2 or not isinstance(decoded[1], dict):
            self.bad("not a broadcast")
            return
        uid, packet = decoded[0], decoded[1]
        options = decoded[2] if len(decoded) > 2 and isinstance(decoded[2], dict) else {}
        if uid == self.uid:
            return
        namespace = packet.get("nsp", "/")
        data = packet.get("data")
        if packet.get("type") not in (EVENT, BINARY_EVENT) or not _event(data):
            self.bad("not an event packet")
            return
        if not self.known_namespace(namespace):
            return
        flags: dict[str, Any] = options.get("flags") or {}
        if not isinstance(flags, dict):
            flags = {}
        if flags.get(STORED) and self.feed is not None:
            return  # another socketsvc node's: it comes through the recovery stream
        rooms, skip = str_list(options.get("rooms")), str_list(options.get("except"))
        self.on_broadcast(namespace, rooms, skip, data, bool(flags.get("volatile")))

    async def _on_request(self, namespace: str, request: dict[str, Any]) -> None:
        kind, rid = request.get("type"), request.get("requestId")
        options = request.get("opts") if isinstance(request.get("opts"), dict) else None
        rooms = str_list(options.get("rooms")) if options else []
        skip = str_list(options.get("except")) if options else []

        def answer(**fields: Any) -> None:
            self._reply(namespace, {"requestId": rid, **fields})

        if kind in (REMOTE_JOIN, REMOTE_LEAVE, REMOTE_DISCONNECT):
            action = {REMOTE_JOIN: "join", REMOTE_LEAVE: "leave"}.get(kind, "disconnect")
            if options is None:  # the older form: one socket by id, answered when it is here
                sid = request.get("sid")
                if not isinstance(sid, str) or not self.is_connected(sid, namespace):
                    return
                rooms, skip = [sid], []
            body = request.get("close") if action == "disconnect" else _room_list(request)
            connection = request.get(CONNECTION)
            await self.on_membership(action, namespace, rooms, skip, body, connection)
            if options is None:
                answer()
        elif kind == REMOTE_FETCH:
            self.on_fetch(namespace, rooms, skip, lambda sockets: answer(sockets=sockets))
        elif kind == SOCKETS:
            assert self.local is not None
            answer(sockets=self.local.sids(namespace, str_list(request.get("rooms")), []))
        elif kind == ALL_ROOMS:
            table = self.rooms.get(namespace, {})
            answer(rooms=[r for r in table if isinstance(r, str)])
        elif kind == SERVER_SIDE_EMIT:
            self.on_server_side(namespace, request.get("data"), self._answers(namespace, rid))
        elif kind == BROADCAST:
            self._on_ack_broadcast(namespace, request, rooms, skip)
        else:
            self.bad(f"request type {str(kind)[:16]}")
            if rid is not None:
                answer()  # whatever it asked, the asker counts one answer from this node

    def _answers(self, namespace: str, rid: Any) -> Callable[[Any], None] | None:
        """How the answer to a server-side event goes back (None: nobody asked for one)."""
        if rid is None:
            return None

        def reply(value: Any) -> None:
            self._reply(namespace, {"type": SERVER_SIDE_EMIT, "requestId": rid, "data": value})

        return reply

    def _on_ack_broadcast(
        self, namespace: str, request: dict[str, Any], rooms: list[str], skip: list[str]
    ) -> None:
        rid, packet = request.get("requestId"), request.get("packet")
        data = packet.get("data") if isinstance(packet, dict) else None
        if not _event(data):
            self.bad("broadcast with acks without an event")
            data = None

        def count(n: int) -> None:
            self._reply(
                namespace, {"type": BROADCAST_CLIENT_COUNT, "requestId": rid, "clientCount": n}
            )

        def ack(value: Any) -> None:
            self._reply(namespace, {"type": BROADCAST_ACK, "requestId": rid, "packet": value})

        if data is None or namespace not in self.rooms:
            count(0)
            return
        self.on_ack_broadcast(namespace, rooms, skip, data, count, ack)

    def _on_response(self, namespace: str, response: dict[str, Any]) -> None:
        rid, kind = response.get("requestId"), response.get("type")
        if kind == BROADCAST_ACK:
            self.ack_arrived(rid, response.get("packet"))
        elif kind == SERVER_SIDE_EMIT:
            self.pending.answer(rid, response.get("data"))
        elif kind is None:  # an answer to a fetch (without sockets it still counts)
            self.fetched(rid, namespace, response.get("sockets"))


def _event(data: Any) -> TypeGuard[list[Any]]:
    return isinstance(data, list) and bool(data) and isinstance(data[0], str)


def _room_list(request: dict[str, Any]) -> list[str]:
    rooms = request.get("rooms")
    if isinstance(rooms, list):
        return str_list(rooms)
    room = request.get("room")  # the older form names one room
    return [room] if isinstance(room, str) else []
