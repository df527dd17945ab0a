"""How a node watches its Redis connections (the client factory is :mod:`redis_client`).

:class:`RedisHealth` turns a stream of successes and failures into state changes: the first
failure of an outage is logged once (not once per message), recovery is logged once, and
:meth:`RedisHealth.problem` gives ``/readyz`` its reason. Components make their calls through
:meth:`RedisHealth.attempt` (one call) and :meth:`RedisHealth.repeat` (a loop, retried with
a :class:`Backoff` from 0.1 s up to 5 s), so every component reports failures the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from socketsvc.scaleout.redis_client import (  # re-exported: every component imports them here
    MAX_CONNECTIONS,
    SOCKET_TIMEOUT,
    client_options,
    redis_client,
    safe_url,
)
from socketsvc.scaleout.redis_topology import failover_timeout
from socketsvc.sio.observer import Observer

__all__ = [
    "MAX_CONNECTIONS",
    "SOCKET_TIMEOUT",
    "Backoff",
    "RedisHealth",
    "client_options",
    "redis_client",
    "safe_url",
]

log = logging.getLogger("socketsvc.redis")
T = TypeVar("T")


class Backoff:
    """Delays for reconnect attempts: 0.1 s doubling up to ``cap`` (5 s)."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self.first, self.cap = first, cap
        self._next = first

    def reset(self) -> None:
        self._next = self.first

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay


class RedisHealth:
    """Reachability of Redis for one component (``bus`` or ``presence``) of this node."""

    def __init__(self, component: str, url: str, observer: Observer | None = None) -> None:
        self.component = component
        self.observer = observer or Observer()  # told of outages and reconnects
        self.url = safe_url(url)
        self.failover = failover_timeout(url)  # 0.0: one server, no Sentinel to wait for
        self._ready = asyncio.Event()
        self._settled = asyncio.Event()  # the first attempt has an outcome
        self._down_since: float | None = None
        self._reason = "not connected to Redis yet"
        self.outages = 0

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def down(self) -> bool:
        """True during a known outage (not merely before the first connection)."""
        return self._down_since is not None

    def problem(self) -> str | None:
        """None when Redis is reachable, else a short reason for ``/readyz``."""
        return None if self.ready else f"{self.component}: {self._reason}"

    def mark_up(self) -> None:
        if self.ready:
            return
        if self._down_since is not None:
            log.warning(
                "%s: Redis at %s reachable again after %.1fs",
                self.component,
                self.url,
                time.monotonic() - self._down_since,
            )
        else:
            log.info("%s: connected to Redis at %s", self.component, self.url)
        self.observer.backend_up(self.component, self._down_since is not None)
        self._down_since = None
        self._ready.set()
        self._settled.set()

    def mark_down(self, exc: BaseException) -> None:
        reason = f"Redis at {self.url} unreachable: {type(exc).__name__}: {exc}"[:300]
        if self.failover:
            reason = f"redis_failover: waiting for Sentinel's primary ({reason})"[:300]
        if self._down_since is not None:
            return
        self._down_since = time.monotonic()
        self._reason = reason
        self.outages += 1
        self.observer.backend_down(self.component)
        self._ready.clear()
        self._settled.set()
        log.error(
            "%s: %s; serving this node's clients only, reconnecting with backoff",
            self.component,
            reason,
        )

    async def attempt(self, operation: Awaitable[T], failed: T) -> T:
        """Await one Redis operation: its result, or ``failed`` when Redis failed it (the
        outage is marked and logged once); a success marks Redis reachable."""
        try:
            result = await operation
        except Exception as exc:
            self.mark_down(exc)
            return failed
        self.mark_up()
        return result

    async def attempt_through_failover(self, call: Callable[[], Awaitable[T]], failed: T) -> T:
        """:meth:`attempt` on ``call()``; with Sentinel a failure is retried with backoff for up
        to the failover timeout, so a write reaches the promoted replica instead of being lost.
        ``call`` must be safe to repeat (its effect idempotent)."""
        if not self.failover:
            return await self.attempt(call(), failed)
        deadline = time.monotonic() + self.failover
        backoff = Backoff(0.05, 1.0)
        while True:
            try:
                result = await call()
            except Exception as exc:
                self.mark_down(exc)
                delay = backoff.next()
                if time.monotonic() + delay > deadline:
                    return failed
                await asyncio.sleep(delay)
                continue
            self.mark_up()
            return result

    async def repeat(
        self, step: Callable[[], Awaitable[T]], stopped: Callable[[], bool]
    ) -> AsyncIterator[T]:
        """``step()``'s results, again and again until ``stopped()``: a failure marks the
        outage and waits out the :class:`Backoff` before the next try."""
        backoff = Backoff()
        while not stopped():
            try:
                result = await step()
            except Exception as exc:
                self.mark_down(exc)
                await asyncio.sleep(backoff.next())
                continue
            self.mark_up()
            backoff.reset()
            yield result

    async def wait_settled(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the first connection attempt; True if Redis is reachable."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), timeout)
        return self.ready
