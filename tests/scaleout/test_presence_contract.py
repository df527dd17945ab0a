"""The Presence contract, run against every backend (memory and Redis, STYLE point 7)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from socketsvc.scaleout.presence import MemoryPresence, Presence
from socketsvc.scaleout.redis_presence import RedisPresence

NS = "/chat"


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], Any]]:
    """A factory of presence stores of one backend that share state (nodes of one cluster)."""
    started: list[RedisPresence] = []
    memory = MemoryPresence()

    async def factory() -> Presence:
        if request.param == "memory":
            return memory  # one node: every "node" is the same store
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        store = RedisPresence(url, prefix, refresh=5.0)
        await store.start()
        started.append(store)
        return store

    yield factory
    for store in started:
        await store.stop()


async def test_members_in_joining_order(make: Any) -> None:
    p = await make()
    for sid, name in (("s1", "ann"), ("s2", "bob"), ("s3", "cy")):
        await p.add(NS, "r", sid, name)
    assert await p.members(NS, "r") == ["ann", "bob", "cy"]
    assert await p.members(NS, "other") == []
    assert await p.members("/elsewhere", "r") == []


async def test_rename_keeps_place_and_name_of(make: Any) -> None:
    p = await make()
    await p.add(NS, "r", "s1", "ann")
    await p.add(NS, "r", "s2", "bob")
    await p.add(NS, "r", "s1", "anna")
    assert await p.members(NS, "r") == ["anna", "bob"]
    assert await p.name_of(NS, "r", "s1") == "anna"
    assert await p.name_of(NS, "r", "nobody") is None
    assert await p.name_of(NS, "other", "s1") is None


async def test_remove_returns_the_name_once(make: Any) -> None:
    p = await make()
    await p.add(NS, "r", "s1", "ann")
    assert await p.remove(NS, "r", "s1") == "ann"
    assert await p.remove(NS, "r", "s1") is None
    assert await p.remove(NS, "never", "s1") is None
    assert await p.members(NS, "r") == []
    await p.add(NS, "r", "s2", "bob")
    assert await p.remove(NS, "r", "s1") is None  # a room that exists, without s1
    assert await p.members(NS, "r") == ["bob"]


async def test_same_name_twice_is_two_members(make: Any) -> None:
    p = await make()
    await p.add(NS, "r", "s1", "sam")
    await p.add(NS, "r", "s2", "sam")
    assert await p.members(NS, "r") == ["sam", "sam"]


async def test_members_span_every_node(make: Any) -> None:
    a, b, c = await make(), await make(), await make()
    await a.add(NS, "r", "s1", "ann")
    await b.add(NS, "r", "s2", "bob")
    await c.add(NS, "r", "s3", "cy")
    for p in (a, b, c):
        assert await p.members(NS, "r") == ["ann", "bob", "cy"]
    await b.remove(NS, "r", "s2")
    assert await a.members(NS, "r") == ["ann", "cy"]


async def test_a_departure_is_seen_at_once_on_every_node(
    make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Also while the departing member's node still has others in the room: no node keeps
    showing the name until the next refresh (nor because a failed write made the node
    resynchronise everything)."""
    a, b = await make(), await make()
    await a.add(NS, "r", "s1", "ann")
    await b.add(NS, "r", "s2", "bob")
    await a.add(NS, "r", "s3", "cy")
    assert await b.members(NS, "r") == ["ann", "bob", "cy"]
    assert await a.remove(NS, "r", "s3") == "cy"
    assert await b.members(NS, "r") == ["ann", "bob"]
    assert await a.remove(NS, "r", "s1") == "ann"
    assert await b.members(NS, "r") == ["bob"]
    assert await a.members(NS, "r") == ["bob"]
    # Each write went through: none of them made a store log an outage.
    assert [r.message for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert a.problem() is None and b.problem() is None


async def test_names_with_separators_round_trip(make: Any) -> None:
    a, b = await make(), await make()
    await a.add(NS, "a:b", "s1", "x:y:z")
    assert await b.members(NS, "a:b") == ["x:y:z"]
    assert await b.members(NS, "a") == []
