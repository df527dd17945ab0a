"""Cluster-wide requests between socketsvc nodes (``redis_protocol = "socketsvc"``): handlers'
``fetch_sockets`` and server-side events reach every node, as they do in a cluster with Node.

Requests are msgpack maps on ``<prefix>:requests``; answers go to the asker's
``<prefix>:requests:<uid>``. The subscribers of ``<prefix>:requests`` are the nodes, so an
asker knows how many answers to wait for. Every node answers every request it receives, also
for a namespace it does not serve (no sockets; ``unknown_event`` for a server-side event).
This is a component of its own beside the bus (scaleout/redis_manager.py), on its own
connections, so the bus's format and hot path stay as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Sequence
from typing import Any

from redis import asyncio as aioredis

from socketsvc import errors
from socketsvc.errors import Unencodable, UnsupportedValue
from socketsvc.scaleout import bus
from socketsvc.scaleout.redis_channels import Outbox, Subscriber
from socketsvc.scaleout.redis_health import RedisHealth, redis_client
from socketsvc.scaleout.redis_topology import is_cluster, shard_subscribers
from socketsvc.scaleout.sio_requests import BadInput, Pending, node_socket, socket_record, str_list
from socketsvc.sio.cluster import LocalNode, SocketRecord
from socketsvc.sio.fanout import FanoutManager
from socketsvc.sio.observer import Observer

START_WAIT = 2.0


class BusRequests:
    """The :class:`~socketsvc.sio.cluster.Cluster` of socketsvc nodes on one Redis."""

    def __init__(self, url: str, prefix: str, manager: FanoutManager, observer: Observer) -> None:
        self.manager = manager
        self.uid = secrets.token_hex(8)
        self.channel = f"{prefix}:requests"
        self.redis: aioredis.Redis = redis_client(url)
        self.link = RedisHealth("requests", url, observer)
        # On a Redis Cluster: sharded channels, whose subscribers one shard counts exactly
        self.sharded = is_cluster(url)
        self.outbox = Outbox(self.redis, self.link, observer, self.sharded)
        self.subscriber = Subscriber(self.redis, self.link, [], self._on_message, self.sharded)
        self.subscriber.want([self.channel, f"{self.channel}:{self.uid}"])
        self.pending = Pending()
        self.bad = BadInput(observer, self.channel)
        self.local: LocalNode | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.local = LocalNode(self.manager.server)
        self._tasks = [
            asyncio.create_task(self.subscriber.run(), name="socketsvc-requests-listener"),
            asyncio.create_task(self.outbox.run(), name="socketsvc-requests-publisher"),
        ]
        await self.link.wait_settled(START_WAIT)

    async def stop(self) -> None:
        await self.outbox.drain(1.0)
        self.subscriber.stop()
        self.outbox.stop()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=3.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.redis.aclose(), 2.0)

    def problem(self) -> str | None:
        return self.link.problem()

    # -- this node asks ---------------------------------------------------------------------------

    async def _ask(self, message: dict[str, Any], what: str, timeout: float) -> list[Any]:
        count: Awaitable[Any]
        if self.sharded:
            count = shard_subscribers(self.redis, self.channel)
        else:
            count = self.redis.pubsub_numsub(self.channel)
        answer: Any = await self.link.attempt(count, [])
        others = int(answer[0][1]) - 1 if answer else 0
        if others <= 0:
            return []
        rid = self.pending.open(others)
        self._send(self.channel, {**message, "uid": self.uid, "rid": rid})
        return await self.pending.wait(rid, what, timeout)

    async def fetch_sockets(
        self, namespace: str, rooms: Sequence[str], except_rooms: Sequence[str], timeout: float
    ) -> list[SocketRecord]:
        assert self.local is not None
        mine = self.local.records(namespace, rooms, except_rooms)
        message = {"kind": "fetch", "nsp": namespace, "rooms": rooms, "except": except_rooms}
        try:
            theirs = await self._ask(message, "fetch_sockets", timeout)
        except errors.ClusterTimeout as exc:
            found = [socket_record(namespace, s) for s in exc.partial]
            exc.partial = mine + [r for r in found if r is not None]
            raise
        found = [socket_record(namespace, s) for s in theirs]
        return mine + [r for r in found if r is not None]

    async def server_side_emit(self, namespace: str, event: str, args: list[Any]) -> None:
        self._send(self.channel, {"kind": "emit", "nsp": namespace, "args": [event, *args]})

    async def server_side_call(
        self, namespace: str, event: str, args: list[Any], timeout: float
    ) -> list[Any]:
        message = {"kind": "emit", "nsp": namespace, "args": [event, *args]}
        return await self._ask(message, "server_side_call", timeout)

    def _send(self, channel: str, message: dict[str, Any]) -> None:
        try:
            self.outbox.put(channel, bus.pack({**message, "uid": self.uid}))
        except (Unencodable, UnsupportedValue) as exc:
            raise Unencodable("other nodes", str(exc)) from None

    # -- the others ask -------------------------------------------------------------------------

    async def _on_message(self, channel: str, raw: bytes, pattern: str | None) -> None:
        try:
            message = bus.unpack(raw)
        except Exception as exc:
            self.bad("undecodable request", type(exc).__name__)
            return
        if not isinstance(message, dict) or not isinstance(message.get("nsp", "/"), str):
            self.bad("not a request")
            return
        if channel != self.channel:  # an answer to this node
            if "sockets" in message:
                self.pending.answer(message.get("rid"), *message["sockets"])
            else:
                self.pending.answer(message.get("rid"), message.get("value"))
            return
        asker, rid, namespace = message.get("uid"), message.get("rid"), message.get("nsp", "/")
        if asker == self.uid or self.local is None:
            return
        reply_to = f"{self.channel}:{asker}"
        if message.get("kind") == "fetch":
            rooms, skip = str_list(message.get("rooms")), str_list(message.get("except"))
            sockets = [node_socket(r) for r in self.local.records(namespace, rooms, skip)]
            self._reply(reply_to, {"rid": rid, "sockets": sockets})
        elif message.get("kind") == "emit":
            self.local.tasks.start(self._server_event(message, reply_to, rid))
        else:
            self.bad(f"request kind {str(message.get('kind'))[:16]}")
            if rid is not None:
                self._reply(reply_to, {"rid": rid, "value": None})

    async def _server_event(self, message: dict[str, Any], reply_to: str, rid: Any) -> None:
        assert self.local is not None
        args = message.get("args")
        if not isinstance(args, list) or not args or not isinstance(args[0], str):
            value: Any = errors.error_ack(errors.INVALID_PAYLOAD, "no event name")
        else:
            value = await self.local.server_event(message.get("nsp", "/"), args[0], args[1:])
        if rid is not None:
            self._reply(reply_to, {"rid": rid, "value": value})

    def _reply(self, channel: str, message: dict[str, Any]) -> None:
        try:
            self._send(channel, message)
        except Unencodable as exc:
            self._send(channel, {"rid": message.get("rid"), "value": exc.to_ack()})
