"""The ChatArchive contract (room history, retry memory), run against every backend: memory and
Redis (STYLE point 7). Each test makes two stores that share state where the backend does (two
nodes on one Redis; one node's store for memory), so what one node wrote, another reads.

The bounds are where the decisions are: history trimmed to its newest ``chat_history`` when
full, ``recent`` of 0 or less is nothing, a limit of 0 keeps nothing, retry keys expire after
their window and are per namespace; the memory store's caps forget the oldest first.
"""

from __future__ import annotations

import asyncio
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
    non-ASCII text) comes back equal, from history and from a retry's answer."""
    store = await make(5)
    odd = {
        "id": "m",
        "blob": b"\x00\xff binary",
        "nested": {"list": [1, -(2**40), 2**63 - 1, None, True], "text": "été ✓"},
        "number": 1.5,
    }
    await store.append(NS, "r", odd)
    assert await store.recent(NS, "r", 1) == [odd]
    assert await store.accept_once(NS, "k", odd, 60) is None
    assert await store.accept_once(NS, "k", {"id": "other"}, 60) == odd


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


async def test_a_send_is_accepted_once_per_namespace_and_key(make: Make) -> None:
    first, second = await make(), await make()
    ack = {"id": "m1", "room": "r"}
    assert await first.accept_once(NS, "u-1:k", ack, 60) is None
    # the retry, on another node, with what would have been another answer
    assert await second.accept_once(NS, "u-1:k", {"id": "m2", "room": "r"}, 60) == ack
    assert await second.accept_once(NS, "u-1:k", {"id": "m3", "room": "r"}, 60) == ack
    assert await second.accept_once(NS, "u-2:k", {"id": "m4"}, 60) is None
    assert await second.accept_once("/other", "u-1:k", {"id": "m5"}, 60) is None


async def test_a_retry_after_its_window_is_a_new_send(make: Make) -> None:
    store = await make()
    assert await store.accept_once(NS, "k", {"id": "m1"}, 0.2) is None
    assert await store.accept_once(NS, "k", {"id": "m2"}, 0.2) == {"id": "m1"}  # within it
    for _ in range(100):  # bounded: the window is 0.2 s
        earlier = await store.accept_once(NS, "k", {"id": "m3"}, 0.2)
        if earlier is None:
            break
        assert earlier == {"id": "m1"}
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the send was remembered past its window")
    assert await store.accept_once(NS, "k", {"id": "m4"}, 0.2) == {"id": "m3"}


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


async def test_memory_forgets_the_oldest_send_past_max_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(archive, "MAX_REMEMBERED_SENDS", 3)
    store = MemoryArchive(5)
    for n in range(4):
        assert await store.accept_once(NS, f"k{n}", {"id": n}, 60) is None
    assert await store.accept_once(NS, "k3", {"id": 9}, 60) == {"id": 3}  # the newest is kept
    assert await store.accept_once(NS, "k0", {"id": 9}, 60) is None  # the oldest was forgotten


async def test_memory_forgets_expired_sends_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """An expired entry goes before a live one is pushed out by the cap."""
    monkeypatch.setattr(archive, "MAX_REMEMBERED_SENDS", 2)
    store = MemoryArchive(5)
    assert await store.accept_once(NS, "short", {"id": 1}, 0.01) is None
    assert await store.accept_once(NS, "long", {"id": 2}, 60) is None
    for _ in range(100):  # until "short" has expired (0.01 s)
        if await store.accept_once(NS, "short", {"id": 3}, 60) is None:
            break
        await asyncio.sleep(0.01)
    assert await store.accept_once(NS, "long", {"id": 4}, 60) == {"id": 2}


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
        await store.accept_once(NS, "k", {"id": 1}, 30)
        assert 25_000 < await redis.pttl(f"{redis_prefix}:sent:{NS}:k") <= 30_000  # ms
    finally:
        await redis.aclose()
        await store.stop()


class Outages(Observer):
    def __init__(self) -> None:
        self.down: list[str] = []

    def backend_down(self, component: str) -> None:
        self.down.append(component)


async def test_an_unreachable_redis_leaves_history_empty_and_retries_new() -> None:
    """No error reaches the handler: history is empty, every send is new (at least once, never
    lost), the outage is reported as the archive's (for /readyz, the log and the metrics)."""
    url = "redis://127.0.0.1:1/0"  # nothing listens there
    outages = Outages()
    store = RedisArchive(Settings(redis_url=url, chat_history=5), outages)
    await store.start()
    try:
        await store.append(NS, "r", message(1))
        assert await store.recent(NS, "r", 5) == []
        assert await store.accept_once(NS, "k", {"id": 1}, 60) is None
        assert await store.accept_once(NS, "k", {"id": 2}, 60) is None
        assert (store.problem() or "").startswith(f"archive: Redis at {url} unreachable: ")
        assert outages.down == ["archive"]
    finally:
        await store.stop()
