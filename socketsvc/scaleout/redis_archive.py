"""``/chat``'s history shared by every node on one Redis.

Keys (``P`` = ``redis_prefix``): ``P:hist:<ns>:<room>`` — a list of the room's latest
``chat_history`` messages (msgpack), trimmed on every append and expiring a day after the
room's last message. (``P:sent:<ns>:<key>``, the answers to sends made once per key, belong
to the emit: scaleout/redis_once.py ``sent_key``.)

While Redis is unreachable, history is empty, and the outage is logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import msgpack
from redis import asyncio as aioredis

from socketsvc.config import Settings
from socketsvc.scaleout.redis_health import Backoff, RedisHealth, redis_client
from socketsvc.scaleout.redis_topology import connection_url
from socketsvc.sio.observer import Observer

HISTORY_TTL_SECONDS = 24 * 3600


class RedisArchive:
    """:class:`~socketsvc.scaleout.archive.ChatArchive` in Redis."""

    def __init__(self, settings: Settings, observer: Observer) -> None:
        self.prefix = settings.redis_prefix
        self.limit = settings.chat_history
        self.link = RedisHealth("archive", connection_url(settings), observer)
        self.redis: aioredis.Redis = redis_client(connection_url(settings))
        self._watcher: asyncio.Task[None] | None = None

    def _history_key(self, namespace: str, room: str) -> str:
        return f"{self.prefix}:hist:{namespace}:{room}"

    async def append(self, namespace: str, room: str, message: dict[str, Any]) -> None:
        if not self.limit:
            return
        key = self._history_key(namespace, room)
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, msgpack.packb(message, use_bin_type=True))
        pipe.ltrim(key, -self.limit, -1)
        pipe.expire(key, HISTORY_TTL_SECONDS)
        await self.link.attempt(pipe.execute(), None)

    async def recent(self, namespace: str, room: str, count: int) -> list[dict[str, Any]]:
        if count <= 0:
            return []
        key = self._history_key(namespace, room)
        raw: list[Any] = await self.link.attempt(self.redis.lrange(key, -count, -1), [])
        return [msgpack.unpackb(item, raw=False) for item in raw]

    async def start(self) -> None:
        await self._probe()
        self._watcher = asyncio.create_task(self._watch(), name="socketsvc-archive-watch")

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.wait([self._watcher], timeout=3.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.redis.aclose(), 2.0)

    def problem(self) -> str | None:
        return self.link.problem()

    async def _probe(self) -> None:
        await self.link.attempt(asyncio.wait_for(self.redis.ping(), 2.0), None)

    async def _watch(self) -> None:
        """After an outage, find out that Redis is back even when nobody chats."""
        backoff = Backoff()
        while True:
            if self.link.ready:
                backoff.reset()
                await asyncio.sleep(1.0)
                continue
            await asyncio.sleep(backoff.next())
            await self._probe()
