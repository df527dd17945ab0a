"""Rooms and broadcasts shared by every node on one Redis.

:class:`RedisManager` is python-socketio's ``AsyncRedisManager`` with three changes:

- local delivery is :class:`~socketsvc.managers.FanoutManager` (its ``emit`` is what
  ``AsyncPubSubManager._handle_emit`` reaches through ``super()``; see the MRO below);
- messages use the versioned msgpack bus format of :mod:`socketsvc.scaleout.bus`, so binary data
  crosses nodes as bytes;
- an emit never waits for Redis: it delivers to this node's clients, then queues the message
  for a publisher task. While Redis is unreachable, queued and new messages are dropped (the
  bus is at-most-once, like Redis pub/sub itself), the outage is logged once, ``/readyz``
  answers 503, and the listener reconnects with backoff (0.1 s to 5 s). Delivery across nodes
  resumes by itself when Redis returns.

Who sees an emit: every client in the room on every node subscribed at that moment, except
``skip_sid``; each node encodes once per wire format for its own clients. Data a node cannot
encode for its clients is dropped there and logged.

MRO: RedisManager -> AsyncRedisManager -> AsyncPubSubManager -> FanoutManager -> AsyncManager.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from socketsvc.protocol.packets import Unencodable
from socketsvc.scaleout import bus
from socketsvc.scaleout.link import Backoff, Link, client_options
from socketsvc.sio.fanout import FanoutManager

log = logging.getLogger("socketsvc.scaleout.bus")

OUTBOX_LIMIT = 10_000  # messages waiting for the publisher; more are dropped, counted
BATCH = 256  # messages per pipelined PUBLISH round trip
START_WAIT = 2.0  # seconds start() waits for the first subscription
STOP_WAIT = 3.0  # seconds stop() waits for the background tasks to end


class RedisManager(socketio.AsyncRedisManager, FanoutManager):  # type: ignore[misc]
    """Cross-node rooms over Redis pub/sub with non-blocking, encode-once local delivery."""

    name = "socketsvc-redis"

    def __init__(self, url: str, prefix: str) -> None:
        super().__init__(
            url=url, channel=bus.channel(prefix), logger=log, redis_options=client_options()
        )
        self.link = Link("bus", url)
        self.dropped = 0
        self._outbox: asyncio.Queue[bytes | None] = asyncio.Queue(OUTBOX_LIMIT)  # None: stop
        self._stopping = False
        self._resubscribe = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle (driven by the app's cleanup_ctx) -------------------------------------------

    def initialize(self) -> None:
        """Nothing to do on first connect: :meth:`start` runs the background tasks."""

    async def start(self) -> None:
        """Start the listener and the publisher; wait briefly for the first subscription."""
        self._redis_connect()
        self._tasks = [
            asyncio.create_task(self._listener(), name="socketsvc-bus-listener"),
            asyncio.create_task(self._publisher(), name="socketsvc-bus-publisher"),
        ]
        await self.link.wait_settled(START_WAIT)

    async def stop(self, drain: float = 1.0) -> None:
        """Publish what is queued (up to ``drain`` s), cancel the tasks, close Redis."""
        if self.link.ready and not self._outbox.empty():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.join(), drain)
        # A flag and a sentinel as well as cancel(): on Python 3.11 a cancel that coincides with
        # an internal timeout (asyncio.timeout/wait_for) can be swallowed.
        self._stopping = True
        with contextlib.suppress(asyncio.QueueFull):
            self._outbox.put_nowait(None)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_WAIT)
        self._tasks = []
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.redis.aclose(), 2.0)

    # -- emit ---------------------------------------------------------------------------------

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
        if kwargs.get("ignore_queue") or callback is not None:
            # Acks across nodes keep python-socketio's path (it publishes through _publish).
            await super().emit(
                event,
                data,
                namespace or "/",
                room=room,
                skip_sid=skip_sid,
                callback=callback,
                to=to,
                **kwargs,
            )
            return
        message = {
            "method": "emit",
            "event": event,
            "data": list(data) if isinstance(data, tuple) else [data],
            "binary": False,  # msgpack carries bytes as they are
            "namespace": namespace or "/",
            "room": to if to is not None else room,
            "skip_sid": skip_sid,
            "callback": None,
            "host_id": self.host_id,
        }
        raw = bus.encode(message)  # Unencodable before anyone received anything
        await self._handle_emit(message)  # this node's clients, through FanoutManager.emit
        self._enqueue(raw)

    async def _publish(self, data: dict[str, Any]) -> None:
        """python-socketio's hook (rooms, disconnects, acks): queue it, never wait."""
        try:
            self._enqueue(bus.encode(data))
        except Unencodable as exc:
            log.warning("not published to other nodes: %s", exc.message)

    def _enqueue(self, raw: bytes) -> None:
        if self.link.down:
            self.dropped += 1
            return
        try:
            self._outbox.put_nowait(raw)
        except asyncio.QueueFull:
            self.dropped += 1

    # -- background tasks ---------------------------------------------------------------------

    async def _publisher(self) -> None:
        while not self._stopping:
            batch = [await self._outbox.get()]
            while len(batch) < BATCH and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            try:
                if self._stopping:
                    return
                if self.link.down:
                    self.dropped += len(batch)
                    continue
                pipe = self.redis.pipeline(transaction=False)
                for raw in batch:
                    if raw is not None:
                        pipe.publish(self.channel, raw)
                await pipe.execute()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.dropped += len(batch)
                self.link.mark_down(exc)
                self._resubscribe.set()
            finally:
                for _ in batch:
                    self._outbox.task_done()

    async def _listener(self) -> None:
        backoff = Backoff()
        while not self._stopping:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._resubscribe.clear()
                self.link.mark_up()
                backoff.reset()
                while not self._resubscribe.is_set() and not self._stopping:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        await self._dispatch(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.link.mark_down(exc)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), 1.0)
            if self.link.down and not self._stopping:
                await asyncio.sleep(backoff.next())

    async def _dispatch(self, raw: bytes) -> None:
        try:
            message = bus.decode(raw)
        except bus.BadMessage as exc:
            log.warning("ignoring a message on %s: %s", self.channel, exc)
            return
        method = message["method"]
        if method != "callback" and message.get("host_id") == self.host_id:
            return  # our own echo
        handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "emit": self._handle_emit,
            "callback": self._handle_callback,
            "disconnect": self._handle_disconnect,
            "enter_room": self._handle_enter_room,
            "leave_room": self._handle_leave_room,
            "close_room": self._handle_close_room,
        }
        try:
            await handlers[method](message)
        except Exception:
            log.exception("bus message %s failed on this node", method)
