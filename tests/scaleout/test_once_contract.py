"""The retry memory of emits made once per key (sio/once.py), on every backend: the memory
manager's :class:`SentOnce`, the Redis bus's SET NX (scaleout/redis_once.py) and the recovery
stream's APPEND script, which records the key with the emit (scaleout/redis_recovery.py). Two
"nodes" share state where the backend does (two clients of one Redis), so a retry that lands
on another node finds the first send.

The bounds are where the decisions are: the first answer is kept and never overwritten, keys
are per namespace, they expire after their window (given to Redis in milliseconds), and an
unreachable Redis makes every send a first (at least once, never lost). The memory table's
caps are in tests/sio/test_once.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis import asyncio as aioredis

from socketsvc.config import Settings
from socketsvc.scaleout.redis_health import RedisHealth, redis_client
from socketsvc.scaleout.redis_manager import RedisManager
from socketsvc.scaleout.redis_once import first_send, sent_key
from socketsvc.scaleout.redis_recovery import RedisRecovery
from socketsvc.sio.observer import Observer
from socketsvc.sio.once import Once, SentOnce
from socketsvc.sio.recovery import Windows

NS = "/chat"
# first(namespace, key, answer, seconds): None when it is the first send, else the first answer
First = Callable[[str, str, Any, float], Awaitable[Any]]
# make(deployment=""): one node's first; nodes of one deployment share their state
Make = Callable[..., Awaitable[First]]


@pytest.fixture(params=["memory", "redis-bus", "redis-stream"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """``await make()``: one node's ``first``; nodes made by one test share their state,
    unless made for another deployment (``make("b")``: its own memory, or its own
    ``redis_prefix`` on the same Redis)."""
    closers: list[Callable[[], Awaitable[None]]] = []
    tables: dict[str, SentOnce] = {}

    async def factory(deployment: str = "") -> First:
        if request.param == "memory":
            shared = tables.setdefault(deployment, SentOnce())

            async def first_in_memory(ns: str, key: str, answer: Any, seconds: float) -> Any:
                once = Once(key, answer, seconds)
                return None if shared.first(ns, once) else once.earlier

            return first_in_memory
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
        prefix += deployment
        if request.param == "redis-bus":
            manager = RedisManager(url, prefix)
            closers.append(manager.redis.aclose)

            async def first_on_the_bus(ns: str, key: str, answer: Any, seconds: float) -> Any:
                once = Once(key, answer, seconds)
                return None if await manager.first(ns, once) else once.earlier

            return first_on_the_bus
        settings = Settings(redis_url=url, redis_prefix=prefix, recovery_window=120)
        stream = RedisRecovery(settings, Windows(settings, lambda ns: None), Observer())
        closers.append(stream.stop)

        async def first_in_the_stream(ns: str, key: str, answer: Any, seconds: float) -> Any:
            once = Once(key, answer, seconds)
            appended = await stream.append([(ns, stream.entry(ns, None, frozenset(), ["m"]), once)])
            assert appended is not None
            (offset,), _ = appended
            return None if offset is not None else once.earlier

        return first_in_the_stream

    yield factory
    for close in closers:
        await close()


async def test_answers_come_back_as_they_went_in(make: Make) -> None:
    """Whatever the first answer holds (binary, nested maps, large and negative numbers,
    non-ASCII text), a retry gets it back equal."""
    first = await make()
    odd = {
        "id": "m",
        "blob": b"\x00\xff binary",
        "nested": {"list": [1, -(2**40), 2**63 - 1, None, True], "text": "été ✓"},
        "number": 1.5,
    }
    assert await first(NS, "k", odd, 60) is None
    assert await first(NS, "k", {"id": "other"}, 60) == odd


async def test_a_send_is_first_once_per_namespace_and_key(make: Make) -> None:
    one, other = await make(), await make()
    ack = {"id": "m1", "room": "r"}
    assert await one(NS, "u-1:k", ack, 60) is None
    # the retry, on another node, with what would have been another answer
    assert await other(NS, "u-1:k", {"id": "m2", "room": "r"}, 60) == ack
    assert await other(NS, "u-1:k", {"id": "m3", "room": "r"}, 60) == ack
    assert await other(NS, "u-2:k", {"id": "m4"}, 60) is None
    assert await other("/other", "u-1:k", {"id": "m5"}, 60) is None


async def test_deployments_sharing_a_redis_keep_their_keys_apart(make: Make) -> None:
    """Two deployments on one Redis, each with its own ``redis_prefix``: the same key in the
    same namespace is a first send in each."""
    one, elsewhere = await make(), await make("-b")
    assert await one(NS, "k", {"id": "m1"}, 60) is None
    assert await elsewhere(NS, "k", {"id": "m2"}, 60) is None
    assert await one(NS, "k", {"id": "m3"}, 60) == {"id": "m1"}
    assert await elsewhere(NS, "k", {"id": "m4"}, 60) == {"id": "m2"}


async def test_a_retry_after_its_window_is_a_new_send(make: Make) -> None:
    first = await make()
    assert await first(NS, "k", {"id": "m1"}, 0.2) is None
    assert await first(NS, "k", {"id": "m2"}, 0.2) == {"id": "m1"}  # within it
    for _ in range(100):  # bounded: the window is 0.2 s
        earlier = await first(NS, "k", {"id": "m3"}, 0.2)
        if earlier is None:
            break
        assert earlier == {"id": "m1"}  # a retry does not restart the window
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the send was remembered past its window")
    assert await first(NS, "k", {"id": "m4"}, 0.2) == {"id": "m3"}


@pytest.mark.parametrize("path", ["bus", "stream"])
async def test_redis_keeps_a_key_its_window_in_milliseconds(
    redis_url: str, redis_prefix: str, path: str
) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    settings = Settings(redis_url=redis_url, redis_prefix=redis_prefix, recovery_window=120)
    stream = RedisRecovery(settings, Windows(settings, lambda ns: None), Observer())
    try:
        once = Once("k", {"id": 1}, 30)
        if path == "bus":
            link = RedisHealth("bus", redis_url, Observer())
            assert await first_send(redis, link, sent_key(redis_prefix, NS, "k"), once)
        else:
            assert await stream.append([(NS, stream.entry(NS, None, frozenset(), ["m"]), once)])
        assert 25_000 < await redis.pttl(f"{redis_prefix}:sent:{NS}:k") <= 30_000  # ms
    finally:
        await stream.stop()
        await redis.aclose()


async def test_an_unreachable_redis_makes_every_send_a_first() -> None:
    """At least once, never lost: a retry while Redis is down is sent again."""
    url = "redis://127.0.0.1:1/0"  # nothing listens there
    redis = redis_client(url)
    link = RedisHealth("bus", url, Observer())
    try:
        for answer in ({"id": 1}, {"id": 2}):
            once = Once("k", answer, 60)
            assert await first_send(redis, link, sent_key("p", NS, "k"), once) is True
            assert once.earlier is None
        assert link.down
    finally:
        await redis.aclose()
