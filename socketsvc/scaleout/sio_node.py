"""The part of a cluster with Node.js nodes that does not depend on the format: this node's
answers to requests, its own requests, rooms and acks across nodes.

:class:`NodeFormatManager` is the room manager of ``redis_protocol = "socket.io"`` and
``"socket.io-streams"``; the subclasses (sio_classic.py, sio_streams.py) read and write
their adapter's messages and call the ``on_*`` methods here with plain values; these answer
through the ``reply`` callables the subclass gives. It is also the node's
:class:`~socketsvc.sio.cluster.Cluster`.

Every request this node is subscribed for is answered, also one it cannot serve (a
server-side event in a namespace without a handler gets an ``unknown_event`` error as its
answer): Node waits for exactly as many answers as there are subscribers. Membership changes
(join, leave, disconnect) are applied in arrival order, before any later broadcast.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from redis import asyncio as aioredis

from socketsvc import errors
from socketsvc.scaleout.redis_channels import Outbox, Subscriber
from socketsvc.scaleout.redis_health import RedisHealth, redis_client
from socketsvc.scaleout.redis_once import first_send, sent_key
from socketsvc.scaleout.sio_requests import BadInput, Pending, node_socket, socket_record
from socketsvc.sio.cluster import LocalNode, SocketRecord
from socketsvc.sio.fanout import FanoutManager
from socketsvc.sio.observer import Observer
from socketsvc.sio.once import Once

log = logging.getLogger("socketsvc.bus")

START_WAIT = 2.0  # seconds start() waits for the first subscription
STOP_WAIT = 3.0
ACK_WAIT = 60.0  # seconds acks of a broadcast sent to other nodes are still taken


def rooms_of(room: Any) -> list[str]:
    """An emit's ``room`` (None, one room, or several) as Node's ``rooms`` option."""
    if room is None:
        return []
    return [room] if isinstance(room, str) else [r for r in room if isinstance(r, str)]


def args_of(event: str, data: Any) -> list[Any]:
    """An emit's event and data as a packet's ``data`` array."""
    if isinstance(data, tuple):
        return [event, *data]
    return [event] if data is None else [event, data]


class NodeFormatManager(FanoutManager):
    """Rooms and broadcasts shared with Node nodes (see the module doc)."""

    name = "node-format"

    def __init__(
        self, url: str, prefix: str, observer: Observer, where: str, patterns: list[str]
    ) -> None:
        super().__init__(observer=observer)
        self.prefix = prefix  # redis_prefix
        self.uid = secrets.token_hex(8)  # this node in the cluster's messages
        self.redis: aioredis.Redis = redis_client(url)
        self.link = RedisHealth("bus", url, self.observer)
        self.outbox = Outbox(self.redis, self.link, self.observer)
        self.subscriber = Subscriber(self.redis, self.link, patterns, self.on_message)
        self.pending = Pending()
        self.bad = BadInput(self.observer, where)
        self._ack_callbacks: dict[str, Callable[..., Any]] = {}
        self._static: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self.stopping = False
        self.local: LocalNode | None = None

    # -- what subclasses provide ------------------------------------------------------------

    def namespace_channels(self, namespace: str) -> list[str]:
        """The channels this node subscribes to for ``namespace``."""
        raise NotImplementedError

    def count_channel(self, namespace: str) -> str:
        """The channel whose subscribers are the namespace's nodes (Node's serverCount)."""
        raise NotImplementedError

    async def on_message(self, channel: str, raw: bytes, pattern: str | None) -> None:
        raise NotImplementedError

    async def broadcast(
        self,
        namespace: str,
        rooms: list[str],
        skip: list[str],
        args: list[Any],
        volatile: bool,
        once: Once | None = None,
    ) -> None:
        """This node's emit: to its own clients and to the other nodes; at most once per
        ``once.key`` (see :meth:`first`)."""
        raise NotImplementedError

    def send_request(
        self, namespace: str, kind: str, rid: str | None, body: dict[str, Any]
    ) -> None:
        """Publish a request: ``kind`` is fetch, server_side, ack_broadcast or disconnect;
        ``body`` holds ``rooms``/``except`` and ``args``/``close`` as the kind needs."""
        raise NotImplementedError

    def background(self) -> list[asyncio.Task[None]]:
        """More tasks to run beside the listener and the publisher."""
        return []

    # -- lifecycle ----------------------------------------------------------------------------

    def initialize(self) -> None:
        """Nothing on first connect: :meth:`start` runs the background tasks."""

    async def start(self) -> None:
        self.local = LocalNode(self.server)
        self._static = {"/", *self.server.namespace_handlers}
        for namespace in self._static:
            self.subscriber.want(self.namespace_channels(namespace))
        self._tasks = [
            asyncio.create_task(self.subscriber.run(), name="socketsvc-bus-listener"),
            asyncio.create_task(self.outbox.run(), name="socketsvc-bus-publisher"),
            *self.background(),
        ]
        await self.link.wait_settled(START_WAIT)

    async def stop(self) -> None:
        await self.outbox.drain(1.0)
        self.stopping = True
        self.subscriber.stop()
        self.outbox.stop()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_WAIT)
        self._tasks = []
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.redis.aclose(), 2.0)

    def problem(self) -> str | None:
        return self.link.problem()

    # -- namespaces come and go (pattern namespaces) ------------------------------------------

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> None:
        if namespace not in self.rooms and namespace not in self._static:
            self.subscriber.want(self.namespace_channels(namespace))
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        super().basic_disconnect(sid, namespace, **kwargs)
        if namespace not in self.rooms and namespace not in self._static:
            self.subscriber.drop(self.namespace_channels(namespace))

    def serves(self, namespace: str) -> bool:
        return bool(self.server.routes.serves(namespace))

    # -- this node's emits ----------------------------------------------------------------------

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Callable[..., Any] | None = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        namespace = namespace or "/"
        room = to if to is not None else room
        if kwargs.get("ignore_queue"):
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, **kwargs)
            return
        args = args_of(event, data)
        skip = rooms_of(skip_sid)
        if callback is None:
            volatile, once = bool(kwargs.get("volatile")), kwargs.get("once")
            await self.broadcast(namespace, rooms_of(room), skip, args, volatile, once)
            return
        self.deliver_with_acks(namespace, room, skip_sid, args, callback)
        table = self.rooms.get(namespace, {})
        if isinstance(room, str) and room in table and self.is_connected(room, namespace):
            return  # one of this node's clients: no other node has it
        rid = secrets.token_hex(8)
        self._ack_callbacks[rid] = callback
        asyncio.get_running_loop().call_later(ACK_WAIT, self._ack_callbacks.pop, rid, None)
        body = {"rooms": rooms_of(room), "except": skip, "args": args}
        self.send_request(namespace, "ack_broadcast", rid, body)

    async def first(self, namespace: str, once: Once) -> bool:
        """Whether ``once`` is sent for the first time (recorded now, in Redis: every node
        sees it); else ``once.earlier`` holds the first send's answer."""
        name = sent_key(self.prefix, namespace, once.key)
        return await first_send(self.redis, self.link, name, once)

    def drop_elsewhere(self, sid: str, namespace: str, eio_sid: str) -> None:
        """Drop connection ``eio_sid`` of ``sid`` on another node (a reconnect took its session
        over): a disconnect request for the sid that socketsvc nodes apply only where that
        connection is, never to a newer one; Node nodes drop the sid."""
        body = {"rooms": [sid], "except": [], "close": False, "connection": eio_sid}
        self.send_request(namespace, "disconnect", None, body)

    def ack_arrived(self, rid: Any, arg: Any) -> None:
        """Another node's client answered this node's broadcast with acks."""
        callback = self._ack_callbacks.get(rid) if isinstance(rid, str) else None
        if callback is not None:
            callback(*([] if arg is None else [arg]))

    async def can_disconnect(self, sid: str, namespace: str) -> bool:
        """A client on another node is disconnected there (Node's ``disconnectSockets``)."""
        if self.is_connected(sid, namespace):
            return True
        self.send_request(namespace, "disconnect", None, {"rooms": [sid], "except": []})
        return False

    async def close_room(self, room: str, namespace: str | None) -> None:
        namespace = namespace or "/"
        await super().close_room(room, namespace)
        body = {"rooms": [room], "except": [], "leave": [room]}
        self.send_request(namespace, "leave", None, body)

    # -- the Cluster: this node's requests ------------------------------------------------------

    async def _others(self, namespace: str) -> int:
        """How many other nodes serve ``namespace`` now (0 when Redis cannot say)."""
        channel = self.count_channel(namespace)
        answer: Any = await self.link.attempt(self.redis.pubsub_numsub(channel), [])
        count = int(answer[0][1]) if answer else 0
        return max(0, count - (1 if self.subscriber.subscribed(channel) else 0))

    async def fetch_sockets(
        self, namespace: str, rooms: Sequence[str], except_rooms: Sequence[str], timeout: float
    ) -> list[SocketRecord]:
        assert self.local is not None
        mine = self.local.records(namespace, rooms, except_rooms)
        others = await self._others(namespace)
        if not others:
            return mine
        rid = self.pending.open(others)
        self.send_request(
            namespace, "fetch", rid, {"rooms": list(rooms), "except": list(except_rooms)}
        )
        try:
            theirs = await self.pending.wait(rid, "fetch_sockets", timeout)
        except errors.ClusterTimeout as exc:
            exc.partial = mine + exc.partial
            raise
        return mine + theirs

    async def server_side_emit(self, namespace: str, event: str, args: list[Any]) -> None:
        self.send_request(namespace, "server_side", None, {"args": [event, *args]})

    async def server_side_call(
        self, namespace: str, event: str, args: list[Any], timeout: float
    ) -> list[Any]:
        others = await self._others(namespace)
        if not others:
            return []
        rid = self.pending.open(others)
        self.send_request(namespace, "server_side", rid, {"args": [event, *args]})
        return await self.pending.wait(rid, "server_side_call", timeout)

    def fetched(self, rid: Any, namespace: str, sockets: Any) -> None:
        """Another node's answer to this node's fetch (an answer without sockets counts)."""
        found = [socket_record(namespace, s) for s in sockets] if isinstance(sockets, list) else []
        self.pending.answer(rid, *[r for r in found if r is not None])

    # -- the others' requests --------------------------------------------------------------------

    def on_fetch(
        self,
        namespace: str,
        rooms: list[str],
        except_rooms: list[str],
        reply: Callable[[list[dict[str, Any]]], None],
    ) -> None:
        assert self.local is not None
        reply([node_socket(r) for r in self.local.records(namespace, rooms, except_rooms)])

    def on_server_side(
        self, namespace: str, args: Any, reply: Callable[[Any], None] | None
    ) -> None:
        """A server-side event for this node's handler; its answer, if one is wanted, goes
        back with ``reply`` (exactly once, also when the event cannot be handled)."""
        assert self.local is not None
        if not isinstance(args, list) or not args or not isinstance(args[0], str):
            self.bad("server-side event without a name")
            if reply is not None:
                reply(errors.error_ack(errors.INVALID_PAYLOAD, "no event name"))
            return
        local = self.local
        local.tasks.start(self._server_side(local, namespace, args, reply))

    async def _server_side(
        self,
        local: LocalNode,
        namespace: str,
        args: list[Any],
        reply: Callable[[Any], None] | None,
    ) -> None:
        try:
            answer = await local.server_event(namespace, args[0], args[1:])
        except Exception:  # the handler's errors are answered in dispatch_server_event
            log.exception("server-side event %r in %s failed", args[0], namespace)
            answer = errors.error_ack(errors.INTERNAL, "internal server error")
        if reply is not None:
            reply(answer)

    def on_broadcast(
        self,
        namespace: str,
        rooms: list[str],
        except_rooms: list[str],
        args: list[Any],
        volatile: bool,
    ) -> None:
        assert self.local is not None
        if namespace in self.rooms:
            self.observer.bus_received()
            self.local.deliver(namespace, rooms, except_rooms, args, volatile)

    def on_ack_broadcast(
        self,
        namespace: str,
        rooms: list[str],
        except_rooms: list[str],
        args: list[Any],
        count: Callable[[int], None],
        ack: Callable[[Any], None],
    ) -> None:
        assert self.local is not None

        def answered(*values: Any) -> None:
            ack(values[0] if values else None)

        count(self.local.deliver_with_acks(namespace, rooms, except_rooms, args, answered))

    async def on_membership(
        self,
        kind: str,
        namespace: str,
        rooms: list[str],
        except_rooms: list[str],
        body: Any,
        connection: Any = None,
    ) -> None:
        """``join``/``leave`` (``body``: the rooms) or ``disconnect`` (``body``: close; a
        ``connection`` named: only that connection of the sid in ``rooms``)."""
        local = self.local
        assert local is not None
        if namespace not in self.rooms:
            return
        if connection is not None:
            sid = rooms[0] if len(rooms) == 1 else None
            if kind != "disconnect" or self.eio_sid_from_sid(sid, namespace) != connection:
                return
        if kind == "join":
            await local.join(namespace, rooms, except_rooms, body)
        elif kind == "leave":
            await local.leave(namespace, rooms, except_rooms, body)
        else:
            await local.disconnect(namespace, rooms, except_rooms, bool(body))

    def known_namespace(self, namespace: Any) -> bool:
        """False (counted as bad input) for a namespace no route here serves."""
        if isinstance(namespace, str) and self.serves(namespace):
            return True
        self.bad("unknown namespace", str(namespace)[:64])
        return False
