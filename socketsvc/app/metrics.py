"""The node's counters for Prometheus: an :class:`~socketsvc.sio.observer.Observer` that only
adds to plain integers and dicts (messages and bytes are the engine's own totals,
:class:`~socketsvc.engine.traffic.Traffic`, read on scrape).

Nothing here formats or locks: :mod:`socketsvc.app.exposition` turns these numbers into the
Prometheus text format when ``/metrics`` is scraped. Labels stay bounded whatever clients
send: namespaces are labelled by their configured route (``/team/*`` for ``/team/a``), with
``other`` for anything unknown, and error codes beyond the first :data:`MAX_CODES` distinct
ones are counted as ``other``.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from socketsvc.sio.handler import Handler
from socketsvc.sio.namespaces import Route
from socketsvc.sio.observer import Observer

OTHER = "other"
MAX_CODES = 64  # distinct error/refusal codes kept as labels; the rest count as OTHER
LABEL_CACHE = 4096  # concrete namespace -> label entries kept before the cache starts over
HANDLER_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
FANOUT_SIZES = (0, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


class Histogram:
    """Bucket counts and a sum; ``observe`` is one bisect and two additions."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, float]]:
        """``(le, count)`` pairs as Prometheus wants them, ``+Inf`` last."""
        out, running = [], 0
        for bound, count in zip((*map(_le, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, float(running)))
        return out


def _le(bound: float) -> str:
    return str(float(bound))


class NamespaceLabels:
    """The label of a concrete namespace: its route, ``/`` , or :data:`OTHER`."""

    def __init__(self, routes: Iterable[Route[type[Handler]]], extra: Iterable[str] = ()) -> None:
        routes = list(routes)
        self.fixed = {r.namespace for r in routes if not r.is_pattern} | {"/", *extra}
        self.patterns = [r for r in routes if r.is_pattern]
        self._cache: dict[str, str] = {}

    def __call__(self, namespace: str) -> str:
        label = self._cache.get(namespace)
        if label is None:
            label = self._resolve(namespace)
            if len(self._cache) >= LABEL_CACHE:
                self._cache.clear()
            self._cache[namespace] = label
        return label

    def _resolve(self, namespace: str) -> str:
        if namespace in self.fixed:
            return namespace
        for route in self.patterns:
            if route.matches(namespace):
                return route.namespace
        return OTHER

    def known(self) -> list[str]:
        """Every label a namespace can get (so that counters start at zero)."""
        return sorted(self.fixed | {r.namespace for r in self.patterns})


class Codes:
    """Error codes as labels: the first :data:`MAX_CODES` distinct ones, then OTHER."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def __call__(self, code: str) -> str:
        if code in self._seen:
            return code
        if len(self._seen) < MAX_CODES:
            self._seen.add(code)
            return code
        return OTHER


def bump(table: dict[Any, int], key: Any, by: int = 1) -> None:
    table[key] = table.get(key, 0) + by


class NamespaceStats:
    """The per-event and per-emit numbers of one namespace label. Reached from a concrete
    namespace by one dict lookup, so an event costs no label resolution."""

    __slots__ = ("acks", "deliveries", "emits", "handler", "label")

    def __init__(self, label: str) -> None:
        self.label = label
        self.handler = Histogram(HANDLER_SECONDS)  # its count is the events handled
        self.acks = 0  # acks sent for client events, error acks and refusals included
        self.emits = 0  # emits that reached this node's clients
        self.deliveries = 0  # clients those emits reached


class NodeMetrics(Observer):
    """Everything the node counts, as plain numbers (read by the exposition on scrape)."""

    def __init__(self, labels: NamespaceLabels) -> None:
        self.label = labels
        self.code = Codes()
        self.started = time.time()
        # engine
        self.transports_opened: dict[str, int] = {}
        self.transports_closed: dict[str, int] = {}  # by reason
        self.upgrades = 0
        self.handshakes_refused: dict[str, int] = {}
        self.slow_consumers = 0
        # Socket.IO, by namespace label
        self.namespaces: dict[str, NamespaceStats] = {}  # by label
        self._stats: dict[str, NamespaceStats] = {}  # by concrete namespace, a bounded cache
        self.connects: dict[str, int] = {}
        self.refusals: dict[tuple[str, str], int] = {}
        self.disconnects: dict[str, int] = {}
        self.error_acks: dict[tuple[str, str], int] = {}
        self.acks_in: dict[str, int] = {}
        self.rate_limited_events: dict[tuple[str, str], int] = {}
        self.joins: dict[str, int] = {}
        self.leaves: dict[str, int] = {}
        self.recoveries: dict[tuple[str, str], int] = {}
        self.recovery_misses: dict[tuple[str, str], int] = {}  # (namespace, reason)
        self.fanout = Histogram(FANOUT_SIZES)
        # cross-node backends
        self.bus_out = self.bus_in = self.bus_lost = 0
        self.ignored_input: dict[str, int] = {}  # by cause (bounded by Codes)
        self.outages: dict[str, int] = {}
        self.reconnects: dict[str, int] = {}
        self.presence_refreshes = 0
        self.presence_seconds = 0.0

    # -- engine ------------------------------------------------------------------------------

    def transport_opened(self, eio_sid: str, transport: str) -> None:
        bump(self.transports_opened, transport)

    def transport_upgraded(self, eio_sid: str) -> None:
        self.upgrades += 1

    def transport_closed(self, eio_sid: str, reason: str) -> None:
        bump(self.transports_closed, reason)

    def handshake_refused(self, reason: str) -> None:
        bump(self.handshakes_refused, reason)

    def slow_consumer_cut(self, eio_sid: str) -> None:
        self.slow_consumers += 1

    # -- Socket.IO ---------------------------------------------------------------------------

    def namespace_connected(self, namespace: str, sid: str, eio_sid: str) -> None:
        bump(self.connects, self.label(namespace))

    def namespace_refused(self, namespace: str, code: str) -> None:
        bump(self.refusals, (self.label(namespace), self.code(code)))

    def namespace_disconnected(self, namespace: str, sid: str, reason: str) -> None:
        bump(self.disconnects, self.label(namespace))

    def stats(self, namespace: str) -> NamespaceStats:
        """The numbers of ``namespace``'s label (created on first use)."""
        stats = self._stats.get(namespace)
        if stats is None:
            label = self.label(namespace)
            stats = self.namespaces.get(label)
            if stats is None:
                stats = self.namespaces[label] = NamespaceStats(label)
            if len(self._stats) >= LABEL_CACHE:
                self._stats.clear()
            self._stats[namespace] = stats
        return stats

    def event_handled(self, namespace: str, seconds: float, acked: bool, error: str | None) -> None:
        # The hot path: one lookup, the histogram's observe written out, no label resolution.
        stats = self._stats.get(namespace) or self.stats(namespace)
        handler = stats.handler
        handler.counts[bisect_left(HANDLER_SECONDS, seconds)] += 1
        handler.total += seconds
        if acked:
            stats.acks += 1
            if error is not None:
                bump(self.error_acks, (stats.label, self.code(error)))

    def refused(self, namespace: str, code: str) -> None:
        stats = self.stats(namespace)
        stats.acks += 1
        bump(self.error_acks, (stats.label, self.code(code)))

    def ack_received(self, namespace: str) -> None:
        bump(self.acks_in, self.label(namespace))

    def rate_limited(self, namespace: str, disconnected: bool) -> None:
        action = "disconnected" if disconnected else "refused"
        bump(self.rate_limited_events, (self.label(namespace), action))

    def emitted(
        self, namespace: str, room: Any, skip_sid: Any, args: list[Any], recipients: int
    ) -> None:
        stats = self._stats.get(namespace) or self.stats(namespace)
        stats.emits += 1
        stats.deliveries += recipients
        self.fanout.observe(recipients)

    def room_joined(self, namespace: str, room: str, sid: str) -> None:
        if room != sid:  # a client's own sid room is not a join
            bump(self.joins, self.label(namespace))

    def room_left(self, namespace: str, room: str, sid: str) -> None:
        if room != sid:
            bump(self.leaves, self.label(namespace))

    def recovery_hit(self, namespace: str, sid: str) -> None:
        bump(self.recoveries, (self.label(namespace), "hit"))

    def recovery_miss(self, namespace: str, reason: str) -> None:
        label = self.label(namespace)
        bump(self.recoveries, (label, "miss"))
        bump(self.recovery_misses, (label, reason))

    # -- cross-node backends -----------------------------------------------------------------

    def bus_published(self, messages: int) -> None:
        self.bus_out += messages

    def bus_received(self) -> None:
        self.bus_in += 1

    def bus_dropped(self, messages: int) -> None:
        self.bus_lost += messages

    def bus_ignored(self, cause: str) -> None:
        bump(self.ignored_input, self.code(cause))

    def backend_down(self, component: str) -> None:
        bump(self.outages, component)

    def backend_up(self, component: str, reconnected: bool) -> None:
        if reconnected:
            bump(self.reconnects, component)

    def presence_refreshed(self, seconds: float) -> None:
        self.presence_refreshes += 1
        self.presence_seconds += seconds
