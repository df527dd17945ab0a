"""Redis pub/sub for the protocols that speak Node's formats: one publisher task and one
subscription connection per node.

:class:`Outbox` publishes without making the caller wait: messages queue for one task that
sends them in pipelined batches, in order; while Redis is unreachable they are dropped and
counted (pub/sub is at-most-once). :class:`Subscriber` keeps one connection subscribed to a
set of channels (which may change while it runs: namespaces come and go) and a pattern,
hands every message to a callback in arrival order, and resubscribes after an outage with
backoff. Node counts a namespace's nodes by the subscribers of its request channel, so one
connection per node is what makes this node count once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from redis import asyncio as aioredis

from socketsvc.scaleout.redis_health import Backoff, RedisHealth
from socketsvc.sio.observer import Observer

OUTBOX_LIMIT = 10_000  # messages waiting for the publisher; more are dropped, counted
BATCH = 256  # messages per pipelined round trip
POLL = 0.25  # seconds between checks for subscription changes while nothing arrives

# (channel, data, pattern): a message as it arrived; pattern is None for a plain channel
OnMessage = Callable[[str, bytes, str | None], Awaitable[None]]


class Outbox:
    """Messages to PUBLISH, in order, without waiting for Redis."""

    def __init__(
        self, redis: aioredis.Redis, link: RedisHealth, observer: Observer, sharded: bool = False
    ) -> None:
        self.redis = redis
        self.sharded = sharded  # SPUBLISH (a Redis Cluster's sharded channels)
        self.link = link
        self.observer = observer
        self._queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue(OUTBOX_LIMIT)
        self._stopping = False

    def put(self, channel: str, raw: bytes) -> None:
        if self.link.down:
            self.observer.bus_dropped(1)
            return
        try:
            self._queue.put_nowait((channel, raw))
        except asyncio.QueueFull:
            self.observer.bus_dropped(1)

    async def drain(self, timeout: float) -> None:
        """Wait (up to ``timeout`` s) until what is queued is sent, when Redis is up."""
        if self.link.ready and not self._queue.empty():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), timeout)

    def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    async def run(self) -> None:
        while not self._stopping:
            batch = [await self._queue.get()]
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            messages = [m for m in batch if m is not None]
            try:
                if self._stopping or not messages:
                    continue
                if self.link.down:
                    self.observer.bus_dropped(len(messages))
                    continue
                pipe = self.redis.pipeline(transaction=False)
                for channel, raw in messages:
                    if self.sharded:
                        pipe.spublish(channel, raw)
                    else:
                        pipe.publish(channel, raw)
                await pipe.execute()
                self.observer.bus_published(len(messages))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.observer.bus_dropped(len(messages))
                self.link.mark_down(exc)
            finally:
                for _ in batch:
                    self._queue.task_done()


class Subscriber:
    """One connection subscribed to ``patterns`` and to a changing set of channels."""

    def __init__(
        self,
        redis: aioredis.Redis,
        link: RedisHealth,
        patterns: Iterable[str],
        on_message: OnMessage,
        sharded: bool = False,
    ) -> None:
        self.redis = redis
        self.sharded = sharded  # SSUBSCRIBE (a Redis Cluster's sharded channels), no patterns
        self.link = link
        self.patterns = list(patterns)
        self.on_message = on_message
        self.wanted: set[str] = set()
        self._subscribed: set[str] = set()
        self._changed = asyncio.Event()
        self._stopping = False

    def want(self, channels: Iterable[str]) -> None:
        """Subscribe to ``channels`` too (soon: the listener does it between messages)."""
        self.wanted.update(channels)
        self._changed.set()

    def drop(self, channels: Iterable[str]) -> None:
        self.wanted.difference_update(channels)
        self._changed.set()

    def subscribed(self, channel: str) -> bool:
        return channel in self._subscribed

    def stop(self) -> None:
        self._stopping = True

    async def run(self) -> None:
        """Listen until :meth:`stop`, across Redis outages."""
        backoff = Backoff()
        while not self._stopping:
            pubsub = self.redis.pubsub()
            self._subscribed = set()
            try:
                if self.patterns:
                    await pubsub.psubscribe(*self.patterns)
                await self._sync(pubsub)
                self.link.mark_up()
                backoff.reset()
                while not self._stopping:
                    if self._changed.is_set():
                        await self._sync(pubsub)
                    if self.sharded:
                        message = await pubsub.get_sharded_message(
                            ignore_subscribe_messages=True, timeout=POLL
                        )
                    else:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=POLL
                        )
                    if message is not None:
                        await self._dispatch(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.link.mark_down(exc)
            finally:
                self._subscribed = set()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), 1.0)  # type: ignore[no-untyped-call,unused-ignore]
            if not self._stopping:
                await asyncio.sleep(backoff.next())

    async def _sync(self, pubsub: Any) -> None:
        self._changed.clear()
        wanted = set(self.wanted)
        add, remove = wanted - self._subscribed, self._subscribed - wanted
        if add:
            await (pubsub.ssubscribe if self.sharded else pubsub.subscribe)(*sorted(add))
        if remove:
            await (pubsub.sunsubscribe if self.sharded else pubsub.unsubscribe)(*sorted(remove))
        self._subscribed = wanted

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind not in ("message", "pmessage", "smessage"):
            return
        channel = message.get("channel", b"")
        channel = channel.decode(errors="replace") if isinstance(channel, bytes) else str(channel)
        data = message.get("data", b"")
        if isinstance(data, str):
            data = data.encode()
        pattern = message.get("pattern") if kind == "pmessage" else None
        if isinstance(pattern, bytes):
            pattern = pattern.decode(errors="replace")
        await self.on_message(channel, data, pattern)


def escape_pattern(text: str) -> str:
    """``text`` literally in a Redis glob pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
