"""RedisPresence beyond the Presence contract: its keys and their TTLs, the refresh, a clean
stop, a dead node's entry, and Redis going away (with and without losing its data).

Each test runs RedisPresence stores (nodes) in the test's event loop on a real redis-server
and reads Redis itself where the documented key layout is what an operator sees.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis import asyncio as aioredis

from socketsvc.scaleout.redis_health import SOCKET_TIMEOUT
from socketsvc.scaleout.redis_presence import ROOMS_PER_PIPELINE, START_WAIT, RedisPresence
from tests.redis_support import RedisProcess

NS = "/chat"
REFRESH = 0.2  # for the tests that wait for a refresh: TTLs of 0.6 s

Make = Callable[..., Awaitable[RedisPresence]]


@pytest.fixture
async def make(redis_prefix: str) -> AsyncIterator[Make]:
    """Start RedisPresence stores sharing one prefix (nodes of one cluster); stopped at the end."""
    started: list[RedisPresence] = []

    async def factory(url: str, refresh: float = 30.0) -> RedisPresence:
        store = RedisPresence(url, redis_prefix, refresh=refresh)
        await store.start()
        started.append(store)
        return store

    yield factory
    for store in started:
        await store.stop()


@pytest.fixture
async def peek(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A plain client of the shared Redis, to read what the stores wrote."""
    r = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield r
    await r.aclose()


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll an async ``check`` every 20 ms until it holds; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout}s")
        await asyncio.sleep(0.02)


def now_ms() -> int:
    return int(time.time() * 1000)


async def test_keys_live_under_the_prefix_and_lapse_after_three_refreshes(
    make: Make, peek: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    p = await make(redis_url, refresh=10.0)
    await p.add(NS, "r", "s1", "ann")
    nodes, members = f"{redis_prefix}:pn:{NS}:r", f"{redis_prefix}:pm:{p.node}:{NS}:r"
    assert sorted(await peek.keys(f"{redis_prefix}:*")) == [members, nodes]
    entry = await peek.hget(members, "s1")
    assert isinstance(entry, str)
    joined, _, name = entry.partition(":")
    assert name == "ann" and abs(int(joined) - time.time_ns()) < 5 * 10**9
    for key in (nodes, members):
        assert 29_000 < await peek.pttl(key) <= 30_000
    lapses = await peek.zscore(nodes, p.node)  # when this node's entry lapses, in ms
    assert lapses is not None and now_ms() + 29_000 < lapses <= now_ms() + 30_000
    assert p.problem() is None
    await asyncio.sleep(0.3)  # a window in which a refresh every 10 s rewrites nothing
    assert await peek.zscore(nodes, p.node) == lapses
    # The last member leaving takes the node's hash and its entry in the room's node set
    # along (the set's key goes with its last entry): nothing is left for the TTL to collect.
    assert await p.remove(NS, "r", "s1") == "ann"
    assert await peek.keys(f"{redis_prefix}:*") == []


async def test_a_live_node_rearms_its_entries(
    make: Make, peek: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    p, other = await make(redis_url, refresh=REFRESH), await make(redis_url)
    await p.add(NS, "r", "s1", "ann")
    nodes = f"{redis_prefix}:pn:{NS}:r"
    first = await peek.zscore(nodes, p.node)
    assert first is not None

    async def rearmed() -> bool:
        score = await peek.zscore(nodes, p.node)
        return score is not None and score > first + 2 * REFRESH * 1000

    await until(rearmed, 5.0, "the node's entry was not re-armed")  # past its first TTL too
    assert 0 < await peek.pttl(f"{redis_prefix}:pm:{p.node}:{NS}:r") <= 3 * REFRESH * 1000
    assert await other.members(NS, "r") == ["ann"]


async def test_a_clean_stop_takes_the_nodes_members_along(
    make: Make, peek: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    a, b = await make(redis_url), await make(redis_url)
    await a.add(NS, "r", "s1", "ann")
    await a.add(NS, "q", "s1", "ann")
    await b.add(NS, "r", "s2", "bob")
    assert await b.members(NS, "q") == ["ann"]
    await a.stop()
    assert await b.members(NS, "r") == ["bob"]  # at once, not after the TTL
    assert await b.members(NS, "q") == []
    assert await peek.keys(f"{redis_prefix}:pm:{a.node}:*") == []
    assert await peek.zrange(f"{redis_prefix}:pn:{NS}:r", 0, -1) == [b.node]
    assert await peek.exists(f"{redis_prefix}:pn:{NS}:q") == 0


async def test_a_dead_nodes_entry_is_pruned_a_late_one_kept(
    make: Make, peek: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    """An entry that lapsed more than a TTL ago is a dead node's: it is removed and its
    members are not listed. One that lapsed less long ago is kept (clock skew between nodes):
    its members are still listed as long as its hash lives."""
    b = await make(redis_url, refresh=10.0)  # TTL 30 s
    await b.add(NS, "r", "s2", "bob")
    nodes = f"{redis_prefix}:pn:{NS}:r"
    dead, late = "d" * 32, "e" * 32
    await peek.zadd(nodes, {dead: now_ms() - 31_000, late: now_ms() - 29_000})
    await peek.hset(f"{redis_prefix}:pm:{dead}:{NS}:r", "s8", f"{time.time_ns()}:ghost")
    await peek.hset(f"{redis_prefix}:pm:{late}:{NS}:r", "s9", f"{time.time_ns()}:carl")
    assert await b.members(NS, "r") == ["bob", "carl"]
    assert await peek.zscore(nodes, dead) is None
    assert await peek.zscore(nodes, late) is not None


async def test_an_outage_is_reported_with_its_cause(
    redis_process: RedisProcess, make: Make
) -> None:
    """Whichever call finds Redis gone first, a write or a read: the node answers from its
    own members and reports the outage with its cause (``/readyz``, one log line)."""
    a, b = await make(redis_process.url), await make(redis_process.url)
    await a.add(NS, "r", "s1", "ann")
    await b.add(NS, "r", "s2", "bob")
    redis_process.stop()
    await a.add(NS, "r", "s3", "cy")  # a write finds it gone
    assert await b.members(NS, "r") == ["bob"]  # a read finds it gone
    assert await a.members(NS, "r") == ["ann", "cy"]
    for p in (a, b):
        assert (p.problem() or "").startswith(
            f"presence: Redis at {redis_process.url} unreachable: ConnectionError"
        ), p.problem()


async def test_a_node_without_members_notices_an_outage_and_the_recovery(
    redis_process: RedisProcess, make: Make
) -> None:
    p = await make(redis_process.url, refresh=REFRESH)
    assert p.problem() is None
    redis_process.stop()

    async def down() -> bool:
        return p.problem() is not None

    async def up() -> bool:
        return p.problem() is None

    await until(down, 5.0, "the outage went unnoticed")
    assert (p.problem() or "").startswith(
        f"presence: Redis at {redis_process.url} unreachable: ConnectionError"
    ), p.problem()
    redis_process.start()
    await until(up, 10.0, "the recovery went unnoticed")


async def test_departures_during_an_outage_are_gone_once_redis_answers(
    redis_process: RedisProcess, make: Make
) -> None:
    """Redis refuses this node's connections without losing its data (as in a partition): the
    rooms the node emptied meanwhile must lose its entries when Redis answers again, the one
    whose write failed and the one emptied once the outage was known (nothing even tried)."""
    a, b = await make(redis_process.url), await make(redis_process.url)
    for room, name in (("r1", "ann"), ("r2", "amy"), ("r3", "abe")):
        await a.add(NS, room, "s1", name)
        await b.add(NS, room, "s2", "bob")
    await a.add(NS, "r3", "s3", "al")  # r3 keeps a member here: its hash is rewritten
    peek = aioredis.Redis.from_url(redis_process.url)
    try:
        # Only this client may stay connected: every other connection attempt is refused.
        await peek.config_set("maxclients", 1)
        await peek.client_kill_filter(_type="normal", skipme=True)
        assert await a.remove(NS, "r1", "s1") == "ann"  # the write fails: the outage is known
        assert (a.problem() or "").startswith("presence: Redis at"), a.problem()
        assert await a.remove(NS, "r2", "s1") == "amy"  # locally, at once
        assert await a.remove(NS, "r3", "s1") == "abe"
        assert await a.members(NS, "r2") == []
        await asyncio.sleep(0.3)  # the refresher's retries fail too (backoff from 0.1 s)
        await peek.config_set("maxclients", 10_000)

        async def up() -> bool:
            return a.problem() is None

        await until(up, 15.0, "the node did not resynchronise")
        for room in ("r1", "r2"):
            assert await b.members(NS, room) == ["bob"]
            assert await peek.zrange(f"{a.prefix}:pn:{NS}:{room}", 0, -1) == [b.node.encode()]
        assert await b.members(NS, "r3") == ["bob", "al"]  # abe's entry did not outlive it
    finally:
        await peek.config_set("maxclients", 10_000)
        await peek.aclose()


async def test_stop_returns_when_redis_went_away_unnoticed(
    redis_process: RedisProcess, make: Make
) -> None:
    """The clean leave at shutdown fails quietly: the node still stops."""
    a = await make(redis_process.url)
    await a.add(NS, "r", "s1", "ann")
    redis_process.stop()
    assert a.problem() is None  # not noticed yet: the next refresh is 30 s away
    await asyncio.wait_for(a.stop(), 3.0)


async def test_a_restart_that_lost_the_data_is_repaired_in_every_room(
    redis_process: RedisProcess, make: Make
) -> None:
    """More rooms than one resync pipeline holds (twice over): all of them come back."""
    rooms = [f"room{i}" for i in range(2 * ROOMS_PER_PIPELINE + 10)]
    a, b = await make(redis_process.url, refresh=REFRESH), await make(redis_process.url)
    for room in rooms:
        await a.add(NS, room, "s1", "ann")
    redis_process.stop()
    redis_process.start()  # empty: no persistence
    peek = aioredis.Redis.from_url(redis_process.url)
    try:

        async def repaired() -> bool:
            keys = await peek.keys(f"*:pm:{a.node}:*")
            return len(keys) == len(rooms)

        await until(repaired, 10.0, "not every room was rewritten")
    finally:
        await peek.aclose()
    for room in (rooms[0], rooms[ROOMS_PER_PIPELINE], rooms[-1]):
        assert await b.members(NS, room) == ["ann"]


async def test_start_waits_at_most_start_wait_for_an_unresponsive_redis(
    redis_process: RedisProcess, make: Make
) -> None:
    """A Redis that accepts connections but never answers must not hold up the node's start
    past START_WAIT (the socket timeouts and their retry would take twice as long)."""
    assert redis_process.proc is not None
    redis_process.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        p = await make(redis_process.url)
        assert time.monotonic() - started < START_WAIT + 1.0
        assert p.problem() is not None
    finally:
        redis_process.proc.send_signal(signal.SIGCONT)


async def test_stop_is_bounded_when_redis_stops_answering(
    redis_process: RedisProcess, make: Make
) -> None:
    """The clean leave at shutdown waits 2 s at most for a Redis that does not answer (the
    socket timeouts and their retry would take twice as long)."""
    a = await make(redis_process.url)
    await a.add(NS, "r", "s1", "ann")
    assert redis_process.proc is not None
    redis_process.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        await a.stop()
        assert time.monotonic() - started < 2.7
    finally:
        redis_process.proc.send_signal(signal.SIGCONT)


async def test_a_room_emptied_while_a_resync_fails_is_cleaned_later(
    redis_process: RedisProcess, make: Make
) -> None:
    """Redis stops answering (a paused process): the refresher's resynchronisation hangs and
    fails meanwhile. A room this node emptied while that resync was in flight must still lose
    the node's entries once Redis answers again."""
    a, b = await make(redis_process.url), await make(redis_process.url)
    for room, name in (("r1", "ann"), ("r3", "cy")):
        await a.add(NS, room, "s1", name)
        await b.add(NS, room, "s2", "bob")
    assert redis_process.proc is not None
    redis_process.proc.send_signal(signal.SIGSTOP)
    try:
        assert await a.remove(NS, "r1", "s1") == "ann"  # times out: the outage is known
        await asyncio.sleep(0.2)  # the refresher, woken by the failure, starts a resync
        assert await a.remove(NS, "r3", "s1") == "cy"  # while that resync hangs
        # Let the resync fail: no sign of it reaches the outside, hence a plain wait.
        await asyncio.sleep(2 * SOCKET_TIMEOUT + 0.5)
    finally:
        redis_process.proc.send_signal(signal.SIGCONT)

    async def up() -> bool:
        return a.problem() is None

    await until(up, 15.0, "the node did not resynchronise")
    assert await b.members(NS, "r3") == ["bob"]
    assert await b.members(NS, "r1") == ["bob"]


async def test_a_sid_on_two_nodes_is_listed_once_as_this_node_knows_it(
    redis_url: str, make: Make
) -> None:
    """A client recovered on node B while node A's entry for it lives on (until A's refresh or
    its TTL): each node lists it once, by its own entry; any node finds every member."""
    a, b, c = await make(redis_url), await make(redis_url), await make(redis_url)
    await a.add(NS, "r", "s1", "old name")
    await b.add(NS, "r", "s1", "new name")
    await b.add(NS, "r", "s2", "bob")
    assert await b.members(NS, "r") == ["new name", "bob"]
    assert await a.members(NS, "r") == ["old name", "bob"]
    for sid, there in (("s1", True), ("s2", True), ("s3", False)):
        assert await c.has(NS, "r", sid) is there, sid
        assert await a.has(NS, "r", sid) is there, sid
    assert not await c.has(NS, "elsewhere", "s2")
