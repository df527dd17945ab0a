"""``/healthz``, ``/readyz`` and ``/metrics`` of a machine with several workers: whichever
worker a request reaches answers for all of them, asking the others through the hub.

- ``/healthz``: 200 while this worker serves, with the clients of every worker summed and how
  many of the configured workers answered (a worker being restarted does not make the machine
  unhealthy: its clients reconnect to the others);
- ``/readyz``: 200 when every configured worker answers and none has a backend problem, else
  503 with the reasons;
- ``/metrics``: every worker's metrics, each sample labelled ``worker="<index>"`` (sum them
  with ``sum without (worker) (...)``), plus ``socketsvc_workers`` (configured, answering).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from socketsvc import __version__
from socketsvc.errors import ClusterTimeout
from socketsvc.scaleout.backends import Backends
from socketsvc.sio.server import SocketServer

from .client import HubClient

ASK_TIMEOUT = 2.0  # seconds the other workers have to answer
STATUS = "status"
METRICS = "metrics"


class Machine:
    """Worker ``index`` of ``workers`` answering for the whole machine."""

    def __init__(
        self,
        hub: HubClient,
        workers: int,
        sio: SocketServer,
        backends: Backends,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.hub = hub
        self.workers = workers
        self.sio = sio
        self.backends = backends
        self.registry = registry
        hub.answerers[STATUS] = self._status
        if registry is not None:
            hub.answerers[METRICS] = self._metrics

    async def _gather(self, kind: str, mine: Any) -> list[Any]:
        try:
            theirs = await self.hub.ask({"kind": kind}, kind, ASK_TIMEOUT)
        except ClusterTimeout as exc:
            theirs = exc.partial
        return [mine, *(answer for answer in theirs if isinstance(answer, dict))]

    # -- health ---------------------------------------------------------------------------------

    async def _status(self, body: Any = None) -> dict[str, Any]:
        problems = [p for b in self.backends.all() if (p := b.problem()) is not None]
        clients = sum(1 for s in self.sio.eio.sockets.values() if not s.closed)
        return {"worker": self.hub.index, "clients": clients, "problems": problems}

    async def healthz(self, request: web.Request) -> web.Response:
        statuses = await self._gather(STATUS, await self._status())
        return web.json_response(
            {
                "status": "ok",
                "version": __version__,
                "clients": sum(int(s.get("clients", 0)) for s in statuses),
                "workers": {"configured": self.workers, "answering": len(statuses)},
            }
        )

    async def readyz(self, request: web.Request) -> web.Response:
        statuses = await self._gather(STATUS, await self._status())
        problems = [
            f"worker {s.get('worker')}: {p}" for s in statuses for p in s.get("problems", ())
        ]
        if len(statuses) < self.workers:
            problems.append(f"workers: {len(statuses)} of {self.workers} answering")
        if problems:
            return web.json_response({"status": "unavailable", "reasons": problems}, status=503)
        return web.json_response({"status": "ready"})

    # -- metrics --------------------------------------------------------------------------------

    async def _metrics(self, body: Any = None) -> dict[str, Any]:
        assert self.registry is not None
        families = [
            [m.name, m.documentation, m.type, m.unit, _samples(m)] for m in self.registry.collect()
        ]
        return {"worker": self.hub.index, "families": families}

    def metrics_route(self, token: str) -> Any:
        """``GET /metrics`` for the machine; with a ``token``, only ``Bearer <token>``."""
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
            answers = await self._gather(METRICS, await self._metrics())
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_Merged(answers, self.workers))
            body = generate_latest(registry)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        return scrape


class _Merged:
    """The workers' metric families as one exposition, each sample labelled by worker."""

    def __init__(self, answers: list[dict[str, Any]], workers: int) -> None:
        self.answers = sorted(answers, key=lambda a: int(a.get("worker", 0)))
        self.workers = workers

    def collect(self) -> Iterator[Metric]:
        workers = GaugeMetricFamily(
            "socketsvc_workers", "Worker processes on this machine", labels=("state",)
        )
        workers.add_metric(("configured",), self.workers)
        workers.add_metric(("answering",), len(self.answers))
        yield workers
        merged: dict[str, Metric] = {}
        for answer in self.answers:
            worker = str(answer.get("worker"))
            for name, documentation, kind, unit, samples in answer.get("families", ()):
                family = merged.get(name)
                if family is None:
                    family = merged[name] = Metric(name, documentation, kind, unit)
                for sample, labels, value in samples:
                    family.add_sample(sample, {**labels, "worker": worker}, value)
        yield from merged.values()


def _samples(family: Metric) -> list[list[Any]]:
    return [[s.name, s.labels, s.value] for s in family.samples]
