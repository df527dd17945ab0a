"""The limiters of security/limits.py on their own, with a clock the test moves.

The server-level behaviour (rate_limited answers, disconnects, 429) is in test_access.py;
here the exact arithmetic: when a bucket refuses, when it disconnects, how it refills, and
that counts per address never go wrong."""

from __future__ import annotations

import pytest

from socketsvc.config import Settings
from socketsvc.security.limits import (
    MemoryConnectionLimiter,
    TokenBucket,
    Unlimited,
    Verdict,
    make_limits,
)
from socketsvc.security.policy import Refused, SecurityPolicy

ALLOW, REFUSE, DISCONNECT = Verdict.ALLOW, Verdict.REFUSE, Verdict.DISCONNECT


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_refusals_then_a_disconnect_once_the_debt_passes_another_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    verdicts = [bucket.hit("c") for _ in range(7)]
    assert verdicts == [ALLOW] * 3 + [REFUSE] * 3 + [DISCONNECT]
    clock.now += 60  # even with a full bucket again: decided, the rest is dropped until closed
    assert [bucket.hit("c") for _ in range(3)] == [Verdict.DROP] * 3
    assert bucket.hit("other") is ALLOW  # per connection
    assert len(bucket) == 3  # two buckets, one connection being cut
    bucket.forget("c")
    bucket.forget("never seen")
    assert len(bucket) == 1
    assert [bucket.hit("c") for _ in range(4)] == [ALLOW] * 3 + [REFUSE]  # forgotten: full


def test_tokens_come_back_at_the_rate_up_to_the_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.hit("c") for _ in range(3)] == [ALLOW] * 3
    clock.now += 0.5  # one token at 2/s
    assert [bucket.hit("c"), bucket.hit("c")] == [ALLOW, REFUSE]
    clock.now += 0.25  # half a token: the debt of the refused event is not paid yet
    assert bucket.hit("c") is REFUSE
    clock.now += 60  # a long pause refills to the burst, not beyond it
    assert [bucket.hit("c") for _ in range(4)] == [ALLOW] * 3 + [REFUSE]


def test_a_refused_event_costs_a_token_too() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=1.0, burst=1, clock=clock)
    assert [bucket.hit("c"), bucket.hit("c")] == [ALLOW, REFUSE]  # tokens 0, then -1
    clock.now += 1.0
    assert bucket.hit("c") is REFUSE  # -1 + 1 - 1 = -1: still in debt
    clock.now += 2.0
    assert bucket.hit("c") is ALLOW  # -1 + 2 - 1 = 0


async def test_connections_per_address_are_counted_exactly() -> None:
    limiter = MemoryConnectionLimiter(2)
    assert [await limiter.acquire("a") for _ in range(3)] == [True, True, False]
    assert await limiter.acquire("b") is True
    assert len(limiter) == 2
    await limiter.release("a")
    assert await limiter.acquire("a") is True  # the freed place, and only that one
    assert await limiter.acquire("a") is False
    for _ in range(2):
        await limiter.release("a")
    assert len(limiter) == 1  # "a" is forgotten at zero
    await limiter.release("a")  # one release too many never goes below zero
    await limiter.release("nobody")
    assert len(limiter) == 1
    assert [await limiter.acquire("a") for _ in range(3)] == [True, True, False]


async def test_limits_from_settings_and_zero_means_unlimited() -> None:
    limits = make_limits(
        Settings(
            rate_limit_events=5.0,
            rate_limit_burst=7,
            max_connections_per_ip=3,
            max_namespaces_per_connection=4,
            max_rooms_per_connection=6,
        )
    )
    assert isinstance(limits.events, TokenBucket)
    assert (limits.events.rate, limits.events.burst) == (5.0, 7.0)
    assert isinstance(limits.connections, MemoryConnectionLimiter)
    assert limits.connections.limit == 3
    assert (limits.max_namespaces, limits.max_rooms) == (4, 6)
    slow = make_limits(Settings(rate_limit_events=0.5, rate_limit_burst=1))
    assert isinstance(slow.events, TokenBucket)  # below one a second is still a limit
    off = make_limits(Settings(rate_limit_events=0, max_connections_per_ip=0))
    assert isinstance(off.events, Unlimited) and isinstance(off.connections, Unlimited)
    assert [off.events.hit("c") for _ in range(1000)] == [ALLOW] * 1000
    assert len(off.events) == 0  # type: ignore[arg-type]
    assert [await off.connections.acquire("a") for _ in range(1000)] == [True] * 1000
    await off.connections.release("a")


def test_namespaces_per_connection_up_to_the_limit_and_zero_is_no_limit() -> None:
    limited = SecurityPolicy(Settings(max_namespaces_per_connection=2))
    assert limited.admit("/a", None, 0) is None
    assert limited.admit("/b", None, 1) is None
    with pytest.raises(Refused) as info:
        limited.admit("/c", None, 2)
    assert info.value.refusal == {
        "message": "at most 2 namespaces per connection",
        "data": {"code": "limit_exceeded"},
    }
    unlimited = SecurityPolicy(Settings(max_namespaces_per_connection=0))
    assert unlimited.admit("/z", None, 10_000) is None
