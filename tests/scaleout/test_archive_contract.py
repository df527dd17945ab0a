"""The ChatArchive contract (room history), run against every backend: memory and Redis (STYLE
point 7). Each test makes two stores that share state where the backend does (two nodes on one
Redis; one node's store for memory), so what one node wrote, another reads.

The bounds are where the decisions are: history trimmed to its newest ``chat_history`` when
full, ``recent`` of 0 or less is nothing, a limit of 0 keeps nothing; the memory store's cap
forgets the least recently used room first. (The retry memory is the emit's own since #30:
tests/scaleout/test_once_contract.py.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis import asyncio as aioredis

from socketsvc.config import Settings
from socketsvc.scaleout import archive
from socketsvc.scaleout.archive import ChatArchive, MemoryArchive
from socketsvc.scaleout.redis_archive import HISTORY_TTL_SECONDS, RedisArchive
from socketsvc.sio.observer import Observer

NS = "/chat"
Make = Callable[..., Any]


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """``await make(limit)``: a store of the backend under test; stores made with the same
    limit share their state."""
    started: list[RedisArchive] = []
    memories: dict[int, MemoryArchive] = {}

    async def factory(limit: int = 5) -> ChatArchive:
        if request.param == "memory":
            return memories.setdefault(limit, MemoryArchive(limit))
        settings = Settings(
            redis_url=request.getfixturevalue("redis_url"),
            redis_prefix=request.getfixturevalue("redis_prefix"),
            chat_history=limit,
        )
        store = RedisArchive(settings, Observer())
        await store.start()
        assert store.problem() is None
        started.append(store)
        return store

    yield factory
    for store in started:
        await store.stop()


def message(n: int) -> dict[str, Any]:
    return {"id": f"m{n}", "text": f"text {n} ✓", "name": "ann", "at": 1_700_000_000_000 + n}


async def test_history_is_trimmed_to_its_newest_messages_when_full(make: Make) -> None:
    writer, reader = await make(5), await make(5)
    for n in range(3):
        await writer.append(NS, "r", message(n))
    assert await reader.recent(NS, "r", 10) == [message(n) for n in range(3)]
    for n in range(3, 9):  # 9 in all: past the limit of 5
        await writer.append(NS, "r", message(n))
    assert await reader.recent(NS, "r", 10) == [message(n) for n in range(4, 9)]
    assert await reader.recent(NS, "r", 5) == [message(n) for n in range(4, 9)]


async def test_recent_is_the_newest_count_oldest_first_and_nothing_for_zero(make: Make) -> None:
    store = await make(5)
    for n in range(4):
        await store.append(NS, "r", message(n))
    assert await store.recent(NS, "r", 2) == [message(2), message(3)]
    assert await store.recent(NS, "r", 1) == [message(3)]
    assert await store.recent(NS, "r", 0) == []
    assert await store.recent(NS, "r", -1) == []
    assert await store.recent(NS, "empty", 3) == []


async def test_messages_and_answers_come_back_as_they_went_in(make: Make) -> None:
    """Whatever a message holds (binary data, nested maps, large and negative numbers,
    non-ASCII text) comes back equal from history."""
    store = await make(5)
    odd = {
        "id": "m",
        "blob": b"\x00\xff binary",
        "nested": {"list": [1, -(2**40), 2**63 - 1, None, True], "text": "été ✓"},
        "number": 1.5,
    }
    await store.append(NS, "r", odd)
    assert await store.recent(NS, "r", 1) == [odd]


async def test_rooms_and_namespaces_keep_separate_histories(make: Make) -> None:
    store = await make(5)
    await store.append(NS, "r", message(1))
    await store.append("/other", "r", message(2))
    await store.append(NS, "s", message(3))
    assert await store.recent(NS, "r", 5) == [message(1)]
    assert await store.recent("/other", "r", 5) == [message(2)]
    assert await store.recent(NS, "s", 5) == [message(3)]


async def test_a_history_limit_of_zero_keeps_nothing(make: Make) -> None:
    store = await make(0)
    await store.append(NS, "r", message(1))
    assert await store.recent(NS, "r", 5) == []


# -- the memory store's caps ---------------------------------------------------------------------
async def test_memory_forgets_the_least_recently_used_room_past_max_rooms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(archive, "MAX_ROOMS", 3)
    store = MemoryArchive(5)
    for room in ("a", "b", "c"):
        await store.append(NS, room, message(1))
    await store.append(NS, "a", message(2))  # a is used again: b is now the oldest
    await store.append(NS, "d", message(3))  # a fourth room: b is forgotten
    assert await store.recent(NS, "b", 5) == []
    assert await store.recent(NS, "a", 5) == [message(1), message(2)]
    assert await store.recent(NS, "c", 5) == [message(1)]
    assert await store.recent(NS, "d", 5) == [message(3)]


# -- what Redis holds ----------------------------------------------------------------------------
async def test_redis_keys_are_bounded_in_length_and_time(redis_url: str, redis_prefix: str) -> None:
    settings = Settings(redis_url=redis_url, redis_prefix=redis_prefix, chat_history=3)
    store = RedisArchive(settings, Observer())
    await store.start()
    redis = aioredis.Redis.from_url(redis_url)
    try:
        for n in range(5):
            await store.append(NS, "r", message(n))
        key = f"{redis_prefix}:hist:{NS}:r"
        assert await redis.llen(key) == 3
        assert 0 < await redis.ttl(key) <= HISTORY_TTL_SECONDS
    finally:
        await redis.aclose()
        await store.stop()


class Outages(Observer):
    def __init__(self) -> None:
        self.down: list[str] = []

    def backend_down(self, component: str) -> None:
        self.down.append(component)


async def test_an_unreachable_redis_leaves_history_empty() -> None:
    """No error reaches the handler: history is empty, the outage is reported as the
    archive's (for /readyz, the log and the metrics)."""
    url = "redis://127.0.0.1:1/0"  # nothing listens there
    outages = Outages()
    store = RedisArchive(Settings(redis_url=url, chat_history=5), outages)
    await store.start()
    try:
        await store.append(NS, "r", message(1))
        assert await store.recent(NS, "r", 5) == []
        assert (store.problem() or "").startswith(f"archive: Redis at {url} unreachable: ")
        assert outages.down == ["archive"]
    finally:
        await store.stop()
