"""Abuse limits: events per second per connection and connections per client address.

Each limiter is a small :class:`typing.Protocol` plus an in-memory implementation, in the shape
of :mod:`socketsvc.scaleout.presence`, so a Redis version can follow without touching the
callers. The byte limits (``max_payload`` per message, ``max_buffer_bytes`` per outgoing
backlog) are enforced where the bytes are, in :mod:`socketsvc.engine`; namespace and room
counts in the connect and join paths. See docs/security.md for every setting and default.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from socketsvc.config import Settings


class Verdict(enum.Enum):
    ALLOW = "allow"
    REFUSE = "refuse"  # answer ``rate_limited``, drop the event
    DISCONNECT = "disconnect"  # sustained excess: close the connection
    DROP = "drop"  # the connection is being closed for its rate: drop the event, say nothing


class EventLimiter(Protocol):
    """Rate of client events on one connection (an Engine.IO session, all namespaces together).

    Node-local by nature: a connection lives on exactly one node, so there is nothing to share.
    ``hit`` is called once per incoming event and must not block; ``forget`` when the
    connection closes (unknown keys are ignored).
    """

    def hit(self, conn: str) -> Verdict: ...

    def forget(self, conn: str) -> None: ...


class ConnectionLimiter(Protocol):
    """Open connections per client address.

    The memory implementation counts this node's connections only (a client may open
    ``max_connections_per_ip`` on every node); a Redis implementation would count cluster-wide
    with keys that expire so a crashed node's counts do not stick. ``acquire`` returns False
    when the address is at its limit and then counts nothing; every successful ``acquire`` is
    matched by exactly one ``release``.
    """

    async def acquire(self, address: str) -> bool: ...

    async def release(self, address: str) -> None: ...


class TokenBucket:
    """``rate`` events per second with bursts of ``burst``.

    Refused events still cost a token, so the bucket goes into debt; a client that keeps sending
    until the debt passes another ``burst`` is disconnected, while a client that pauses for
    ``burst / rate`` seconds is back to full speed. The disconnect is decided once: the events
    that still arrive while the connection closes are dropped (``DROP``) until ``forget``.
    """

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # conn -> (tokens, last refill)
        self._cut: set[str] = set()  # conns told DISCONNECT, until forgotten

    def hit(self, conn: str) -> Verdict:
        if conn in self._cut:
            return Verdict.DROP
        now = self.clock()
        tokens, last = self._buckets.get(conn, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate) - 1.0
        self._buckets[conn] = (tokens, now)
        if tokens >= 0:
            return Verdict.ALLOW
        if tokens >= -self.burst:
            return Verdict.REFUSE
        self._cut.add(conn)
        return Verdict.DISCONNECT

    def forget(self, conn: str) -> None:
        self._buckets.pop(conn, None)
        self._cut.discard(conn)

    def __len__(self) -> int:
        return len(self._buckets) + len(self._cut)


class Unlimited:
    """The null limiter (a limit set to 0): allows everything, remembers nothing."""

    def hit(self, conn: str) -> Verdict:
        return Verdict.ALLOW

    def forget(self, conn: str) -> None:
        return None

    async def acquire(self, address: str) -> bool:
        return True

    async def release(self, address: str) -> None:
        return None

    def __len__(self) -> int:
        return 0


class MemoryConnectionLimiter:
    """Counts this node's open connections per address."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}

    async def acquire(self, address: str) -> bool:
        count = self._counts.get(address, 0)
        if count >= self.limit:
            return False
        self._counts[address] = count + 1
        return True

    async def release(self, address: str) -> None:
        count = self._counts.get(address, 0) - 1
        if count > 0:
            self._counts[address] = count
        else:
            self._counts.pop(address, None)

    def __len__(self) -> int:
        return len(self._counts)


@dataclass(frozen=True)
class Limits:
    """The limiters of one node, built from settings by :func:`make_limits`."""

    events: EventLimiter
    connections: ConnectionLimiter
    max_namespaces: int  # 0 = unlimited
    max_rooms: int  # 0 = unlimited


def make_limits(settings: Settings) -> Limits:
    events: EventLimiter = (
        TokenBucket(settings.rate_limit_events, settings.rate_limit_burst)
        if settings.rate_limit_events > 0
        else Unlimited()
    )
    connections: ConnectionLimiter = (
        MemoryConnectionLimiter(settings.max_connections_per_ip)
        if settings.max_connections_per_ip > 0
        else Unlimited()
    )
    return Limits(
        events=events,
        connections=connections,
        max_namespaces=settings.max_namespaces_per_connection,
        max_rooms=settings.max_rooms_per_connection,
    )
