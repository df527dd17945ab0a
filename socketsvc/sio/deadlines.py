"""One timer per transport that has not joined a namespace yet (``connect_timeout``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Deadlines:
    """``arm(key)`` starts a timer that calls ``on_expiry(key)`` after ``seconds`` unless
    ``cancel(key)`` comes first. Timers, not tasks: an idle transport holds no coroutine."""

    def __init__(self, seconds: float, on_expiry: Callable[[str], None]) -> None:
        self.seconds = seconds
        self.on_expiry = on_expiry
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def arm(self, key: str) -> None:
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(self.seconds, self._expired, key)

    def _expired(self, key: str) -> None:
        self._timers.pop(key, None)
        self.on_expiry(key)

    def cancel(self, key: str) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def cancel_all(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def __len__(self) -> int:
        return len(self._timers)
