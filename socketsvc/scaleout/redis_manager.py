"""Rooms and broadcasts shared by every node on one Redis.

:class:`RedisManager` is a :class:`~socketsvc.scaleout.bus_manager.BusManager` (the emit path
every bus shares) and so a python-socketio pub/sub manager: it fills in the two hooks that
python-socketio builds cluster-wide rooms, disconnects and acks on (``publish`` and
``listen``, fenced in sio/_socketio.py), and python-socketio's own listener loop dispatches
what arrives. Around that:

- local delivery is :class:`~socketsvc.sio.fanout.FanoutManager`: encoded once per wire
  format, no task per recipient;
- messages use the versioned msgpack bus format of :mod:`socketsvc.scaleout.bus`, so binary
  data crosses nodes as bytes, and ``volatile`` emits stay volatile on every node;
- an emit never waits for Redis: it delivers to this node's clients, then queues the message
  for a publisher task. While Redis is unreachable, queued and new messages are dropped (the
  bus is at-most-once, like Redis pub/sub itself) and counted (``bus_dropped_total``); with
  Sentinel they are held (up to the outbox's size) and retried until the promoted replica
  answers, or ``redis_failover_timeout`` passes. The outage is logged once, ``/readyz``
  answers 503, and the listener reconnects with backoff (0.1 s to 5 s). Delivery across nodes
  resumes by itself when Redis returns;
- an emit kept for recovery is appended to the recovery stream instead of the bus (one round
  trip), and delivered to this node's clients as soon as the append answers, before the emit
  returns: the answer holds every entry from this node's position up to the new one, so this
  node's clients get the stream in order, each entry once, whether an entry arrives that way
  or through the reader that follows the stream for the other nodes' entries.

Who sees an emit: every client in the room on every node subscribed at that moment, except
``skip_sid``; each node encodes once per wire format for its own clients. Data a node cannot
encode for some of its clients reaches the others and is logged there, once per cause; data the
bus cannot carry still reaches this node's clients, and the emitter gets ``unencodable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from redis import asyncio as aioredis

from socketsvc.errors import Unencodable, UnsupportedValue
from socketsvc.scaleout import bus
from socketsvc.scaleout.bus_manager import BusManager
from socketsvc.scaleout.redis_health import Backoff, RedisHealth, redis_client
from socketsvc.scaleout.redis_once import first_send, sent_key
from socketsvc.scaleout.redis_recovery import RedisRecovery
from socketsvc.scaleout.redis_stream import StreamFeed
from socketsvc.scaleout.sio_requests import BadInput
from socketsvc.sio.disconnects import Selection
from socketsvc.sio.observer import Observer
from socketsvc.sio.once import Once
from socketsvc.sio.recovery import skipped, target

log = logging.getLogger("socketsvc.bus")

OUTBOX_LIMIT = 10_000  # messages waiting for the publisher; more are dropped, counted
BATCH = 256  # messages per pipelined PUBLISH round trip
START_WAIT = 2.0  # seconds start() waits for the first subscription
STOP_WAIT = 3.0  # seconds stop() waits for the background tasks to end


class RedisManager(BusManager):
    """Cross-node rooms over Redis pub/sub with non-blocking, encode-once local delivery."""

    name = "socketsvc-redis"
    channel: str  # set by python-socketio's __init__: this bus's channel

    def __init__(
        self,
        url: str,
        prefix: str,
        stream: RedisRecovery | None = None,
        observer: Observer | None = None,
    ) -> None:
        """``stream``: the recovery log; emits it stores travel through it, not the bus."""
        super().__init__(channel=bus.channel(prefix), logger=log)
        self.prefix = prefix
        self.feed = None if stream is None else StreamFeed(stream, self.deliver)
        self.observer = observer or Observer()  # python-socketio's __init__ passes no arguments on
        self.redis: aioredis.Redis = redis_client(url)
        self.link = RedisHealth("bus", url, self.observer)
        self.bad = BadInput(self.observer, self.channel)  # counted, logged once per cause
        # (channel, message); None: stop
        self._outbox: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue(OUTBOX_LIMIT)
        self._stopping = False
        self._resubscribe = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle (driven by the app's cleanup_ctx) -------------------------------------------

    def initialize(self) -> None:
        """Nothing to do on first connect: :meth:`start` runs the background tasks."""

    async def start(self) -> None:
        """Start the listener and the publisher; wait briefly for the first subscription."""
        self._tasks = [
            asyncio.create_task(self.run_listener(), name="socketsvc-bus-listener"),
            asyncio.create_task(self._publisher(), name="socketsvc-bus-publisher"),
        ]
        if self.feed is not None:
            self._tasks += [
                asyncio.create_task(self.feed.run_reader(), name="socketsvc-recovery-reader"),
                asyncio.create_task(self.feed.run_appender(), name="socketsvc-recovery-appender"),
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
        if self.feed is not None:
            self.feed.stop()
        with contextlib.suppress(asyncio.QueueFull):
            self._outbox.put_nowait(None)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_WAIT)
        self._tasks = []
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.redis.aclose(), 2.0)

    def problem(self) -> str | None:
        return self.link.problem()

    # -- emit ---------------------------------------------------------------------------------

    async def emit_kept(
        self, namespace: str, room: Any, skip_sid: Any, args: list[Any], once: Once | None
    ) -> bool:
        feed = self.feed
        if feed is None or not feed.stream.windows(namespace):
            return False
        try:  # what the stream cannot keep is sent to nobody: none could recover it
            fields = feed.stream.entry(namespace, target(room), skipped(skip_sid), args)
        except Unencodable as exc:
            self.log_refusal(exc.cause, "not sent in %s: %s", namespace, exc.message)
            raise
        await feed.emit(namespace, room, skip_sid, args, fields, once)
        return True

    def send_bus(self, raw: bytes, namespace: str, room: Any) -> None:
        self._enqueue(raw, self.channel_for(namespace, room))

    async def first(self, namespace: str, once: Once) -> bool:
        name = sent_key(self.prefix, namespace, once.key)
        return await first_send(self.redis, self.link, name, once)

    async def publish(self, data: dict[str, Any]) -> None:
        """python-socketio's messages (rooms, disconnects, acks): queued, never waited for."""
        try:
            self._enqueue(bus.encode(data))
        except Unencodable as exc:
            self.log_refusal(exc.cause, "not published to other nodes: %s", exc.message)
        except UnsupportedValue as exc:  # a handler's bug, but logged once per cause too
            self.log_refusal(exc.type_name, "not published to other nodes: %s", exc)

    def drop_elsewhere(self, sid: str, namespace: str, eio_sid: str) -> None:
        """python-socketio's bus ``disconnect`` for ``sid``, done only by the node whose
        connection of ``sid`` is ``eio_sid`` (:meth:`listen` filters it): a reconnect that
        took a session over drops the old connection, never a newer one with the same sid."""
        message = {"method": "disconnect", "sid": sid, "namespace": namespace}
        self._enqueue(bus.encode({**message, "eio_sid": eio_sid, "host_id": self.host_id}))

    def publish_disconnect(self, selection: Selection) -> None:
        """The other nodes close their connections matching ``selection`` when this arrives."""
        message = {"method": bus.DISCONNECT_CLIENTS, **selection.fields(), "host_id": self.host_id}
        self._enqueue(bus.encode(message))

    def channel_for(self, namespace: str, room: Any) -> str:
        """The channel an emit to ``room`` is published on: the one bus channel here."""
        return self.channel

    def _enqueue(self, raw: bytes, channel: str | None = None) -> None:
        if self.link.down and not self.link.failover:
            self._drop(1)
            return
        try:
            self._outbox.put_nowait((channel or self.channel, raw))
        except asyncio.QueueFull:
            self._drop(1)

    def _drop(self, messages: int) -> None:
        self.observer.bus_dropped(messages)

    # -- publishing (a background task) -------------------------------------------------------

    async def _publisher(self) -> None:
        while not self._stopping:
            batch = [await self._outbox.get()]
            while len(batch) < BATCH and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            try:
                if self._stopping:
                    return
                if self.link.down and not self.link.failover:
                    self._drop(len(batch))
                    continue
                if self.link.failover:  # Sentinel: held and retried until the new primary
                    if await self.link.attempt_through_failover(self._sender(batch), None) is None:
                        self._drop(len(batch))
                        self._resubscribe.set()
                        continue
                else:
                    await self._sender(batch)()
                self.observer.bus_published(sum(1 for raw in batch if raw is not None))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._drop(len(batch))
                self.link.mark_down(exc)
                self._resubscribe.set()
            finally:
                for _ in batch:
                    self._outbox.task_done()

    def _sender(self, batch: list[tuple[str, bytes] | None]) -> Callable[[], Awaitable[Any]]:
        """One pipelined round trip publishing ``batch``; can be repeated."""

        async def send() -> Any:
            pipe = self.redis.pipeline(transaction=False)
            for item in batch:
                if item is not None:
                    self.publish_on(pipe, *item)
            return await pipe.execute()

        return send

    def publish_on(self, pipe: Any, channel: str, raw: bytes) -> None:
        """Queue the command that publishes ``raw`` on ``channel`` in ``pipe``."""
        pipe.publish(channel, raw)

    # -- what arrives, in the order it goes (README: "A cross-node emit") ---------------------
    # listen -> incoming (-> _for_here, _disconnect_here) -> python-socketio's listener loop
    # (run_listener, sio/_socketio.py) -> deliver_remote (bus_manager.py) -> FanoutManager.emit

    async def listen(self) -> AsyncIterator[dict[str, Any]]:
        """Bus messages as they arrive, across reconnects, until :meth:`stop`."""
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
                    if message is None or message.get("type") != "message":
                        continue
                    decoded = self.incoming(message["data"])
                    if decoded is not None:
                        yield decoded
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.link.mark_down(exc)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), 1.0)  # type: ignore[no-untyped-call,unused-ignore]
            if self.link.down and not self._stopping:
                await asyncio.sleep(backoff.next())

    def incoming(self, raw: bytes) -> dict[str, Any] | None:
        """A message from the bus for python-socketio's listener loop; None when it is bad
        input (logged) or was handled here."""
        try:
            decoded = bus.decode(raw)
        except bus.BadMessage as exc:
            self.bad(exc.cause, exc.detail)
            return None
        own = decoded.get("host_id") == self.host_id
        if not own:
            self.observer.bus_received()
        if decoded["method"] == bus.DISCONNECT_CLIENTS:  # python-socketio's loop
            if not own:  # would ignore it; this node closed its own already
                self._disconnect_here(decoded)
            return None
        return decoded if self._for_here(decoded) else None

    def _for_here(self, message: dict[str, Any]) -> bool:
        """Whether a bus message concerns this node: a ``disconnect`` naming a connection
        (:meth:`drop_elsewhere`) only where that connection of the sid is."""
        if message.get("method") != "disconnect" or "eio_sid" not in message:
            return True
        namespace = message.get("namespace") or "/"
        return bool(self.eio_sid_from_sid(message.get("sid"), namespace) == message["eio_sid"])

    def _disconnect_here(self, message: dict[str, Any]) -> None:
        """Another node's (or an emitter's) ``disconnect_clients``: close the matches here."""
        fields = {k: v for k, v in message.items() if k not in ("method", "host_id", "v")}
        try:
            selection = Selection.of(fields)
        except ValueError as exc:
            self.bad("bad disconnect_clients", str(exc))
            return
        self.server.disconnect_here(selection)
