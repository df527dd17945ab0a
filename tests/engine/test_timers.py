"""TimerList: many timers of one delay in one queue (the sessions' heartbeats, connect deadlines).

Each test waits for the expiries it expects (with a timeout), never for a fixed time; what it
checks is which keys expire and in which order, not when.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from socketsvc.engine.timers import TimerList

DELAY = 0.02


class Expiries:
    """Records the keys a TimerList calls back, and lets a test wait for a number of them."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.changed = asyncio.Event()

    def __call__(self, key: str) -> None:
        self.keys.append(key)
        self.changed.set()

    async def wait_for(self, count: int) -> list[str]:
        async with asyncio.timeout(5):
            while len(self.keys) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.keys


async def test_armed_timers_expire_in_the_order_they_were_armed() -> None:
    expired = Expiries()
    timers = TimerList(DELAY, expired)
    for key in ("a", "b", "c"):
        timers.arm(key)
    assert len(timers) == 3 and "b" in timers
    assert await expired.wait_for(3) == ["a", "b", "c"]
    assert len(timers) == 0 and "b" not in timers


async def test_a_cancelled_timer_never_expires_and_arming_again_restarts_it() -> None:
    expired = Expiries()
    timers = TimerList(DELAY, expired)
    for key in ("a", "b", "c"):
        timers.arm(key)
    timers.cancel("b")
    timers.cancel("unknown")  # ignored
    timers.arm("a")  # restarted: now due after c
    assert await expired.wait_for(2) == ["c", "a"]
    timers.arm("d")
    assert await expired.wait_for(3) == ["c", "a", "d"]  # b never came


@pytest.mark.logs_tracebacks
async def test_a_callback_may_arm_again_and_a_failing_one_stops_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    expired = Expiries()
    timers: TimerList

    def on_expiry(key: str) -> None:
        expired(key)
        if key == "bad":
            raise RuntimeError("callback bug")
        if key == "again":
            timers.arm("again-2")

    timers = TimerList(DELAY, on_expiry)
    for key in ("again", "bad", "after"):
        timers.arm(key)
    with caplog.at_level(logging.ERROR, logger="socketsvc.engine"):
        assert await expired.wait_for(4) == ["again", "bad", "after", "again-2"]
    assert "timer callback failed for bad" in caplog.text


async def test_cancelled_entries_do_not_pile_up_and_cancel_all_stops_everything() -> None:
    expired = Expiries()
    timers = TimerList(60.0, expired)  # none expires during the test
    for n in range(10_000):  # as connects whose deadline is cancelled right away
        timers.arm(f"k{n}")
        timers.cancel(f"k{n}")
    timers.arm("kept")
    assert len(timers) == 1
    assert len(timers._keys) <= 2 * len(timers) + 65  # compacted as it went
    timers.cancel_all()
    assert len(timers) == 0 and not timers._keys
    short = TimerList(DELAY, expired)
    short.arm("x")
    short.cancel_all()
    short.arm("y")
    assert await expired.wait_for(1) == ["y"]
