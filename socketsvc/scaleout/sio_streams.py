"""``redis_protocol = "socket.io-streams"``: the messages of Node's
``@socket.io/redis-streams-adapter`` 0.3 (``streamName`` and ``channelPrefix`` =
``redis_prefix``, ``socket.io`` by default), socket.io-adapter's ClusterAdapter messages:

- ``{uid, nsp, type, data}`` with INITIAL_HEARTBEAT=1, HEARTBEAT=2, BROADCAST=3,
  SOCKETS_JOIN=4, SOCKETS_LEAVE=5, DISCONNECT_SOCKETS=6, FETCH_SOCKETS=7,
  FETCH_SOCKETS_RESPONSE=8, SERVER_SIDE_EMIT=9, SERVER_SIDE_EMIT_RESPONSE=10,
  BROADCAST_CLIENT_COUNT=11, BROADCAST_ACK=12, ADAPTER_CLOSE=13.
- Broadcasts (without acks), joins, leaves and disconnects are stream entries, fields
  ``uid``, ``nsp``, ``type`` (a decimal string) and ``data``: JSON, or base64 msgpack when it
  holds binary. Every node reads the stream in order; a broadcast's entry id is its offset.
- Broadcasts with acks, fetches and server-side events are msgpack on the pub/sub channel
  ``<prefix>#<nsp>#``; answers go to the asker's ``<prefix>#<nsp>#<uid>#``. The subscribers
  of ``<prefix>#<nsp>#`` are the namespace's nodes (Node's serverCount).

Unlike Node, this node delivers its own broadcasts from the stream too (as socketsvc's own
recovery stream does), so every client of the cluster gets them in stream order.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import TYPE_CHECKING, Any, TypeGuard

from socketsvc.errors import Unencodable, UnsupportedValue
from socketsvc.scaleout import bus
from socketsvc.scaleout.sio_node import NodeFormatManager
from socketsvc.scaleout.sio_requests import node_unpack, str_list
from socketsvc.scaleout.sio_streams_format import (
    BROADCAST,
    BROADCAST_ACK,
    BROADCAST_CLIENT_COUNT,
    DISCONNECT_SOCKETS,
    FETCH_SOCKETS,
    FETCH_SOCKETS_RESPONSE,
    KINDS,
    MEMBERSHIP,
    QUIET,
    SERVER_SIDE_EMIT,
    SERVER_SIDE_EMIT_RESPONSE,
    encode_entry,
)
from socketsvc.sio.observer import Observer
from socketsvc.sio.once import Once

if TYPE_CHECKING:
    from socketsvc.scaleout.sio_streams_recovery import StreamsRecovery

CONNECTION = "socketsvcConnection"  # a disconnect for one connection of the sid (Node ignores it)


def decode_entry(fields: Any) -> dict[str, Any] | None:
    """A stream entry as ``{uid, nsp, type, data}``; None when it is not one."""
    try:
        text = fields.get(b"data", b"").decode()
        data = json.loads(text) if text.startswith("{") else node_unpack(base64.b64decode(text))
        message = {
            "uid": fields[b"uid"].decode(),
            "nsp": fields[b"nsp"].decode(),
            "type": int(fields[b"type"]),
            "data": data if isinstance(data, dict) else {},
        }
    except Exception:
        return None
    return message


class StreamsManager(NodeFormatManager):
    """Rooms and broadcasts shared with Node nodes on ``@socket.io/redis-streams-adapter``."""

    name = "socket.io-redis-streams"

    def __init__(self, url: str, prefix: str, stream: StreamsRecovery, observer: Observer) -> None:
        super().__init__(url, prefix, observer, "socket.io streams", [])
        self.stream = stream
        self.uid = stream.uid

    def namespace_channels(self, namespace: str) -> list[str]:
        public = self.count_channel(namespace)
        return [public, f"{public}{self.uid}#"]

    def count_channel(self, namespace: str) -> str:
        return f"{self.prefix}#{namespace}#"

    def background(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self._follow(), name="socketsvc-stream-reader")]

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
        if once is not None and not await self.first(namespace, once):
            return  # sent already: once.earlier holds its answer
        flags = {"volatile": True} if volatile else {}
        data = {
            "packet": {"type": 2, "data": args, "nsp": namespace},
            "opts": {"rooms": rooms, "except": skip, "flags": flags},
        }
        room = rooms[0] if len(rooms) == 1 else (rooms or None)
        try:
            fields = encode_entry(self.uid, namespace, BROADCAST, data)
        except (Unencodable, UnsupportedValue) as exc:
            self.deliver(namespace, room, skip, args, volatile)  # this node's clients get it
            if isinstance(exc, Unencodable):
                self.log_refusal(exc.cause, "not sent to other nodes: %s", exc.message)
            raise
        if await self.stream.add(fields) is None:
            # Redis is unreachable: this node's clients get it now, without an offset
            self.deliver(namespace, room, skip, args, volatile)

    def send_request(
        self, namespace: str, kind: str, rid: str | None, body: dict[str, Any]
    ) -> None:
        opts = {"rooms": body.get("rooms", []), "except": body.get("except", []), "flags": {}}
        if kind in KINDS:  # stream entries, in order with the broadcasts
            data: dict[str, Any] = {"opts": opts}
            if kind == "disconnect":
                data["close"] = bool(body.get("close"))
                if "connection" in body:  # socketsvc nodes: only that connection
                    data[CONNECTION] = body["connection"]
            else:
                data["rooms"] = body.get("leave") or body.get("join") or []
            assert self.local is not None
            fields = encode_entry(self.uid, namespace, KINDS[kind], data)
            self.local.tasks.start(self.stream.add(fields))
            return
        if kind == "fetch":
            message = {"type": FETCH_SOCKETS, "data": {"opts": opts, "requestId": rid}}
        elif kind == "server_side":
            data = {"packet": body["args"]}
            if rid is not None:
                data["requestId"] = rid
            message = {"type": SERVER_SIDE_EMIT, "data": data}
        else:  # ack_broadcast
            packet = {"type": 2, "data": body["args"], "nsp": namespace}
            message = {
                "type": BROADCAST,
                "data": {"packet": packet, "opts": opts, "requestId": rid},
            }
        self._send_message(self.count_channel(namespace), namespace, message)

    def _send_message(self, channel: str, namespace: str, message: dict[str, Any]) -> None:
        try:
            self.outbox.put(channel, bus.pack({"uid": self.uid, "nsp": namespace, **message}))
        except Unencodable as exc:
            self.log_refusal(exc.cause, "not published to other nodes: %s", exc.message)

    def _answer(self, asker: Any, namespace: str, kind: int, data: dict[str, Any]) -> None:
        if isinstance(asker, str):
            channel = f"{self.count_channel(namespace)}{asker}#"
            self._send_message(channel, namespace, {"type": kind, "data": data})

    # -- what arrives on pub/sub ----------------------------------------------------------------

    async def on_message(self, channel: str, raw: bytes, pattern: str | None) -> None:
        try:
            message = node_unpack(raw)
        except Exception as exc:
            self.bad("undecodable message", type(exc).__name__)
            return
        if not isinstance(message, dict) or not isinstance(message.get("data", {}), dict):
            self.bad("not a cluster message")
            return
        if message.get("uid") == self.uid:
            return
        self.observer.bus_received()
        namespace, kind, data = message.get("nsp"), message.get("type"), message.get("data") or {}
        if not self.known_namespace(namespace):
            return
        assert isinstance(namespace, str)
        rid, asker = data.get("requestId"), message.get("uid")
        opts = _map(data.get("opts"))
        rooms, skip = str_list(opts.get("rooms")), str_list(opts.get("except"))
        if kind == FETCH_SOCKETS:
            self.on_fetch(
                namespace,
                rooms,
                skip,
                lambda s: self._answer(
                    asker, namespace, FETCH_SOCKETS_RESPONSE, {"requestId": rid, "sockets": s}
                ),
            )
        elif kind == SERVER_SIDE_EMIT:
            reply = None
            if rid is not None:

                def reply(value: Any) -> None:
                    answer = {"requestId": rid, "packet": value}
                    self._answer(asker, namespace, SERVER_SIDE_EMIT_RESPONSE, answer)

            self.on_server_side(namespace, data.get("packet"), reply)
        elif kind == BROADCAST and rid is not None:
            self._on_ack_broadcast(asker, namespace, rid, data, rooms, skip)
        elif kind == BROADCAST:
            self._deliver(namespace, data, None)
        elif kind == FETCH_SOCKETS_RESPONSE:
            self.fetched(rid, namespace, data.get("sockets"))
        elif kind == SERVER_SIDE_EMIT_RESPONSE:
            self.pending.answer(rid, data.get("packet"))
        elif kind == BROADCAST_ACK:
            self.ack_arrived(rid, data.get("packet"))
        elif kind not in QUIET and kind != BROADCAST_CLIENT_COUNT:
            self.bad(f"message type {str(kind)[:16]}")

    def _on_ack_broadcast(
        self,
        asker: Any,
        namespace: str,
        rid: Any,
        data: dict[str, Any],
        rooms: list[str],
        skip: list[str],
    ) -> None:
        args = _map(data.get("packet")).get("data")

        def count(n: int) -> None:
            answer = {"requestId": rid, "clientCount": n}
            self._answer(asker, namespace, BROADCAST_CLIENT_COUNT, answer)

        def ack(value: Any) -> None:
            self._answer(asker, namespace, BROADCAST_ACK, {"requestId": rid, "packet": value})

        if not _event(args) or namespace not in self.rooms:
            count(0)
            return
        self.on_ack_broadcast(namespace, rooms, skip, args, count, ack)

    # -- the stream -------------------------------------------------------------------------------

    async def _follow(self) -> None:
        """Every node's stream entries, this node's too, in stream order."""
        stream = self.stream
        async for entries in stream.link.repeat(stream.read_entries, lambda: self.stopping):
            for entry_id, message in entries:
                await self._apply(entry_id, message)
                stream.position = entry_id  # delivered up to here (RecoveryLog.head)

    async def _apply(self, entry_id: str, message: dict[str, Any] | None) -> None:
        if message is None:
            self.bad("undecodable stream entry", entry_id)
            return
        namespace, kind, own = message["nsp"], message["type"], message["uid"] == self.uid
        if not own:
            self.observer.bus_received()
        if kind in QUIET or not self.known_namespace(namespace):
            return
        data = message["data"]
        if kind == BROADCAST:
            self._deliver(namespace, data, entry_id)
        elif kind in MEMBERSHIP and not own:
            opts = _map(data.get("opts"))
            body = data.get("close") if kind == DISCONNECT_SOCKETS else str_list(data.get("rooms"))
            rooms, skip = str_list(opts.get("rooms")), str_list(opts.get("except"))
            connection = data.get(CONNECTION)
            await self.on_membership(MEMBERSHIP[kind], namespace, rooms, skip, body, connection)
        elif kind not in MEMBERSHIP:
            self.bad(f"stream entry type {str(kind)[:16]}")

    def _deliver(self, namespace: str, data: dict[str, Any], offset: str | None) -> None:
        packet, opts = _map(data.get("packet")), _map(data.get("opts"))
        if not _event(packet.get("data")):
            self.bad("broadcast without an event")
            return
        flags = _map(opts.get("flags"))
        volatile = "volatile" in flags and flags["volatile"] is not None
        args = list(packet["data"])
        if (
            offset is not None
            and not volatile
            and "id" not in packet
            and self.stream.windows(namespace)
        ):
            args.append(offset)
        with contextlib.suppress(Unencodable):
            self.on_broadcast(
                namespace, str_list(opts.get("rooms")), str_list(opts.get("except")), args, volatile
            )


def _event(data: Any) -> TypeGuard[list[Any]]:
    return isinstance(data, list) and bool(data) and isinstance(data[0], str)


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
