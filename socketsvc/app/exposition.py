"""``GET /metrics``: the node's numbers in the Prometheus text format, made on scrape.

:class:`NodeCollector` is a prometheus-client custom collector: on each scrape it reads the
plain counters of :class:`~socketsvc.app.metrics.NodeMetrics` and counts what is live right
now (clients by transport and wire format, namespace members, rooms, handler tasks) straight
from the server, so none of that costs anything between scrapes. Each app has a registry of
its own (never prometheus-client's global one), with the process collectors beside it.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from socketsvc import __version__
from socketsvc.app.metrics import OTHER, Histogram, NodeMetrics
from socketsvc.scaleout.backends import Backends
from socketsvc.sio.observer import MISS_REASONS
from socketsvc.sio.server import SocketServer

P = "socketsvc_"


def counter(name: str, doc: str, labels: tuple[str, ...], values: dict[Any, Any]) -> Metric:
    family = CounterMetricFamily(P + name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(key if isinstance(key, tuple) else (key,), value)
    return family


def gauge(name: str, doc: str, labels: tuple[str, ...], values: dict[Any, Any]) -> Metric:
    family = GaugeMetricFamily(P + name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(key if isinstance(key, tuple) else (key,), value)
    return family


def histogram(name: str, doc: str, label: str, values: dict[str, Histogram]) -> Metric:
    family = HistogramMetricFamily(P + name, doc, labels=(label,) if label else ())
    for key, h in sorted(values.items()):
        family.add_metric((key,) if label else (), h.cumulative(), h.total)
    return family


def zeros(keys: list[str], values: dict[str, int]) -> dict[str, int]:
    """``values`` with every known label present, so a rate() starts from 0."""
    return {**dict.fromkeys(keys, 0), **values}


class NodeCollector:
    """Yields every socketsvc metric family of one node on each scrape."""

    def __init__(self, metrics: NodeMetrics, sio: SocketServer, backends: Backends, node: str):
        self.m = metrics
        self.sio = sio
        self.backends = backends
        self.node = node

    def collect(self) -> Iterator[Metric]:
        m = self.m
        ns = m.label.known()
        yield gauge(
            "info",
            "Version and node id of this node",
            ("version", "node"),
            {(__version__, self.node): 1},
        )
        yield gauge("start_time_seconds", "When this node started, Unix time", (), {(): m.started})
        yield from self._live(ns)
        # engine
        yield counter(
            "transports_opened_total",
            "Engine.IO sessions opened, by first transport",
            ("transport",),
            zeros(["polling", "websocket"], m.transports_opened),
        )
        yield counter(
            "transport_upgrades_total",
            "Sessions upgraded from polling to websocket",
            (),
            {(): m.upgrades},
        )
        yield counter(
            "transports_closed_total",
            "Engine.IO sessions closed, by reason",
            ("reason",),
            m.transports_closed,
        )
        yield counter(
            "handshakes_refused_total",
            "Handshakes refused: origin (403), too_many_connections (429)",
            ("reason",),
            zeros(["origin", "too_many_connections"], m.handshakes_refused),
        )
        yield counter(
            "slow_consumer_disconnects_total",
            "Connections closed because their outgoing backlog passed max_buffer_bytes",
            (),
            {(): m.slow_consumers},
        )
        traffic = self.sio.eio.traffic
        yield counter(
            "received_packets_total",
            "Engine.IO packets read from clients",
            (),
            {(): traffic.packets_in},
        )
        yield counter(
            "received_bytes_total",
            "Bytes read from clients (websocket text in characters)",
            (),
            {(): traffic.bytes_in},
        )
        yield counter(
            "sent_messages_total",
            "Messages queued for clients, one per recipient",
            (),
            {(): traffic.messages_out},
        )
        yield counter(
            "sent_bytes_total",
            "Payload bytes queued for clients (text in characters)",
            (),
            {(): traffic.bytes_out},
        )
        # Socket.IO
        per = m.namespaces
        yield counter(
            "namespace_connects_total",
            "Namespace connects accepted",
            ("namespace",),
            zeros(ns, m.connects),
        )
        yield counter(
            "namespace_refusals_total",
            "Namespace connects refused, by code",
            ("namespace", "code"),
            m.refusals,
        )
        yield counter(
            "namespace_disconnects_total",
            "Namespace disconnects",
            ("namespace",),
            zeros(ns, m.disconnects),
        )
        yield counter(
            "events_received_total",
            "Events received from clients and handled, counted as their handler finishes",
            ("namespace",),
            zeros(ns, {n: s.handler.count for n, s in per.items()}),
        )
        yield counter(
            "events_emitted_total",
            "Emits delivered to this node's clients (one per emit)",
            ("namespace",),
            zeros(ns, {n: s.emits for n, s in per.items()}),
        )
        yield counter(
            "event_deliveries_total",
            "Clients reached by emits",
            ("namespace",),
            zeros(ns, {n: s.deliveries for n, s in per.items()}),
        )
        yield counter(
            "acks_sent_total",
            "Acks sent for client events, errors included",
            ("namespace",),
            zeros(ns, {n: s.acks for n, s in per.items()}),
        )
        yield counter(
            "error_acks_total",
            "Acks carrying {error: {code}}, by code",
            ("namespace", "code"),
            m.error_acks,
        )
        yield counter(
            "acks_received_total",
            "Client acks of server emits and calls",
            ("namespace",),
            zeros(ns, m.acks_in),
        )
        yield counter(
            "rate_limited_events_total",
            "Events over the rate limit: refused, or the client disconnected",
            ("namespace", "action"),
            m.rate_limited_events,
        )
        yield counter(
            "room_joins_total",
            "Rooms joined (own sid rooms excluded)",
            ("namespace",),
            zeros(ns, m.joins),
        )
        yield counter(
            "room_leaves_total",
            "Rooms left, disconnects included",
            ("namespace",),
            zeros(ns, m.leaves),
        )
        recoveries = {(n, o): 0 for n in ns for o in ("hit", "miss")} | m.recoveries
        yield counter(
            "recoveries_total",
            "Connection-state recovery attempts: hit or miss",
            ("namespace", "outcome"),
            recoveries,
        )
        yield counter(
            "recovery_misses_total",
            "Recovery attempts that connected fresh, by why",
            ("namespace", "reason"),
            {(n, r): 0 for n in ns for r in MISS_REASONS} | m.recovery_misses,
        )
        yield histogram(
            "handler_seconds",
            "Event handler run time, ack included",
            "namespace",
            {n: s.handler for n, s in per.items()},
        )
        yield histogram(
            "broadcast_recipients", "This node's clients reached per emit", "", {"": m.fanout}
        )
        # cross-node backends
        yield counter(
            "bus_published_total", "Messages published to the other nodes", (), {(): m.bus_out}
        )
        yield counter(
            "bus_received_total", "Messages received from the other nodes", (), {(): m.bus_in}
        )
        yield counter(
            "bus_dropped_total",
            "Messages not published (Redis away, outbox full)",
            (),
            {(): m.bus_lost},
        )
        yield counter(
            "bus_ignored_total",
            "Messages on the Redis channels ignored as bad input, by cause (garbage, a request "
            "type from a newer adapter, an unknown namespace, ...)",
            ("cause",),
            {(cause,): n for cause, n in m.ignored_input.items()},
        )
        yield counter(
            "redis_outages_total", "Redis outages seen, by component", ("component",), m.outages
        )
        yield counter(
            "redis_reconnects_total",
            "Reconnects after a Redis outage",
            ("component",),
            m.reconnects,
        )
        yield counter(
            "presence_refreshes_total",
            "Presence refreshes written to Redis",
            (),
            {(): m.presence_refreshes},
        )
        yield counter(
            "presence_refresh_seconds",
            "Time spent in presence refreshes",
            (),
            {(): m.presence_seconds},
        )

    def _live(self, namespaces: list[str]) -> Iterator[Metric]:
        """What is connected right now, counted from the server's own tables."""
        sio, label = self.sio, self.m.label
        clients = {(t, f): 0 for t in ("polling", "websocket") for f in ("json", "msgpack")}
        for sid, session in list(sio.eio.sockets.items()):
            if session.closed:
                continue
            key = (
                "websocket" if session.upgraded else "polling",
                sio.reader.wire_format(sid) or "none",
            )
            clients[key] = clients.get(key, 0) + 1
        yield gauge(
            "clients",
            "Open Engine.IO sessions by transport and wire format (none: no namespace yet)",
            ("transport", "format"),
            clients,
        )
        members = dict.fromkeys(namespaces, 0)
        rooms = dict.fromkeys(namespaces, 0)
        for namespace, table in list(sio.manager.rooms.items()):
            name = label(namespace)
            size = len(table.get(None, ()))
            members[name] = members.get(name, 0) + size
            rooms[name] = rooms.get(name, 0) + max(0, len(table) - 1 - size)
        if not members.get(OTHER):
            members.pop(OTHER, None)
            rooms.pop(OTHER, None)
        yield gauge(
            "namespace_clients", "Clients connected to each namespace", ("namespace",), members
        )
        yield gauge("rooms", "Rooms with members (sid rooms excluded)", ("namespace",), rooms)
        yield gauge("handler_tasks", "Handler tasks still running", (), {(): len(sio.tasks)})
        ready = all(b.problem() is None for b in self.backends.all())
        yield gauge("ready", "1 when every backend can serve (as /readyz)", (), {(): int(ready)})


def registry_for(collector: NodeCollector) -> CollectorRegistry:
    """A registry of this app's own: the node's metrics plus process, platform and GC."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def metrics_route(
    registry: CollectorRegistry, token: str
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler of ``GET /metrics``; with a ``token``, only ``Bearer <token>`` may read."""
    expected = f"Bearer {token}".encode()

    async def scrape(request: web.Request) -> web.Response:
        if token:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return web.json_response(
                    {"error": {"code": "unauthorized", "message": "missing or wrong token"}},
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return scrape
