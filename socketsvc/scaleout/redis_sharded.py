"""The bus on a Redis Cluster: sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7.0+), a channel
per room, so that a node receives the messages of the rooms its clients are in and the
cluster-wide ones, not every room's traffic.

Channels (``B`` = ``redis_prefix`` without its braces):

- ``B:bus`` — what is not for one room: namespace-wide emits, emits to several rooms or to a
  connection's own room (a name of a sid's shape, 20 characters, as Node's sharded adapter
  tells them), and python-socketio's messages (rooms, disconnects, acks). Every node
  subscribes.
- ``B:bus#{<namespace>#<room>}`` — emits to that one room. A node subscribes while it has
  clients in the room; the braces are the hash tag, so rooms spread over the shards.

A join returns once its room's subscription is in place (:meth:`ShardedManager.enter_room`
subscribes at once, waiting at most :data:`SUBSCRIBE_WAIT`); a room that emptied is
unsubscribed by a sweep every :data:`SWEEP_SECONDS` (a message arriving meanwhile finds no
member). Emits kept for recovery do not use the bus: they stay one stream that every node
reads. Order holds per channel: a room's emits arrive in order, but an emit to a room and a
namespace-wide one (two channels) may arrive at another node in either order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from socketsvc.scaleout.redis_health import Backoff
from socketsvc.scaleout.redis_manager import RedisManager
from socketsvc.scaleout.redis_recovery import RedisRecovery
from socketsvc.sio.observer import Observer

log = logging.getLogger("socketsvc.bus")

SUBSCRIBE_WAIT = 2.0  # seconds a join waits for its room's subscription
SWEEP_SECONDS = 5.0  # how often emptied rooms are unsubscribed
POLL_SECONDS = 0.05  # the listener's wait for a message before it looks at joins again
SID_LENGTH = 20  # python-socketio's and Node's sids


class ShardedManager(RedisManager):
    """:class:`RedisManager` on sharded channels (see module doc)."""

    name = "socketsvc-redis-cluster"

    def __init__(
        self,
        url: str,
        prefix: str,
        stream: RedisRecovery | None = None,
        observer: Observer | None = None,
    ) -> None:
        super().__init__(url, prefix, stream, observer)
        base = prefix.replace("{", "").replace("}", "")  # the braces tag keys, not channels
        self.channel = f"{base}:bus"
        self._rooms_prefix = f"{base}:bus#"
        self._wanted: set[str] = set()  # channels of rooms with clients here
        self._subscribed: dict[str, asyncio.Event] = {}  # set once subscribed
        self._changed = asyncio.Event()
        self._pubsub: Any = None  # the listener's, while it is connected
        self._applying = asyncio.Lock()

    def room_channel(self, namespace: str, room: Any) -> str | None:
        """The channel of ``room`` alone, or None when it travels on :attr:`channel`."""
        if isinstance(room, list | tuple):
            if len(room) != 1:
                return None
            room = room[0]
        if not isinstance(room, str) or len(room) == SID_LENGTH:
            return None
        return f"{self._rooms_prefix}{{{namespace}#{room}}}"

    def channel_for(self, namespace: str, room: Any) -> str:
        return self.room_channel(namespace, room) or self.channel

    def publish_on(self, pipe: Any, channel: str, raw: bytes) -> None:
        pipe.spublish(channel, raw)

    # -- subscriptions follow the rooms of this node's clients --------------------------------

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        channel = self.room_channel(namespace, room)
        if channel is not None and channel not in self._wanted:
            self._wanted.add(channel)
            self._subscribed.setdefault(channel, asyncio.Event())
            self._changed.set()

    async def enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> None:
        """Join; returns once this node hears the room's channel (or Redis is away)."""
        await super().enter_room(sid, namespace, room, eio_sid=eio_sid)
        channel = self.room_channel(namespace, room)
        heard = None if channel is None else self._subscribed.get(channel)
        if heard is None or heard.is_set() or not self.link.ready:
            return
        with contextlib.suppress(Exception):  # else the listener subscribes, or reconnects
            await asyncio.wait_for(self._apply(), SUBSCRIBE_WAIT)  # now, not at its next poll
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(heard.wait(), SUBSCRIBE_WAIT)

    def _sweep(self) -> None:
        """Forget the channels of rooms without clients here."""
        present = {
            channel
            for namespace, rooms in self.rooms.items()
            for room in rooms
            if (channel := self.room_channel(namespace, room)) is not None
        }
        if self._wanted - present:
            self._wanted &= present
            self._changed.set()

    async def _apply(self) -> None:
        """Subscribe to the rooms joined and drop the ones swept, on the listener's pubsub."""
        async with self._applying:
            pubsub = self._pubsub
            if pubsub is None or not self._changed.is_set():
                return
            self._changed.clear()
            heard = {channel for channel, event in self._subscribed.items() if event.is_set()}
            new, gone = self._wanted - heard, heard - self._wanted
            if new:
                await pubsub.ssubscribe(*new)
                for channel in new:  # a room joined again while it was being dropped: no event
                    self._subscribed.setdefault(channel, asyncio.Event()).set()
            if gone:
                for channel in gone:
                    del self._subscribed[channel]
                await pubsub.sunsubscribe(*gone)

    async def listen(self) -> AsyncIterator[dict[str, Any]]:
        """Messages of :attr:`channel` and of this node's rooms, across reconnects."""
        backoff = Backoff()
        loop = asyncio.get_running_loop()
        while not self._stopping:
            pubsub = self.redis.pubsub()
            for event in self._subscribed.values():  # a new connection hears nothing yet
                event.clear()
            self._changed.set()
            try:
                await pubsub.ssubscribe(self.channel)
                self._pubsub = pubsub
                self._resubscribe.clear()
                self.link.mark_up()
                backoff.reset()
                swept = loop.time()
                while not self._resubscribe.is_set() and not self._stopping:
                    if self._changed.is_set():
                        await self._apply()
                    message = await pubsub.get_sharded_message(
                        ignore_subscribe_messages=True, timeout=POLL_SECONDS
                    )
                    if message is not None and message.get("type") == "smessage":
                        decoded = self.incoming(message["data"])
                        if decoded is not None:
                            yield decoded
                    if loop.time() - swept > SWEEP_SECONDS:
                        swept = loop.time()
                        self._sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.link.mark_down(exc)
            finally:
                self._pubsub = None
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), 1.0)
            if self.link.down and not self._stopping:
                await asyncio.sleep(backoff.next())
