"""A worker process: one full socketsvc node on the machine's shared port.

The primary starts it as ``python -m socketsvc.workers.worker`` with its listening sockets
inherited and a JSON spec on standard input (the settings, already checked, and its seat:
index, number of workers, the run directory). It serves like a single node (the same
``serve`` path, SIGTERM drains it), with three differences: its backends are the machine's
(:mod:`socketsvc.scaleout.backends`), its session ids carry its tag, and requests for other
workers' sessions are handed over to them (:mod:`.handoff`). It stops when the primary is gone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import socket
import sys
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from socketsvc import config
from socketsvc.errors import ConfigError, StartupError

from .client import HubClient
from .handoff import HandoffSite, handoff_path, route_to_owner
from .sockets import tag

log = logging.getLogger("socketsvc.workers")


def hub_path(rundir: str) -> str:
    return os.path.join(rundir, "hub.sock")


@dataclass(frozen=True)
class Worker:
    """This process's seat on the machine: worker ``index`` of ``workers``."""

    index: int
    workers: int
    rundir: str
    hub: HubClient
    listeners: tuple[socket.socket, ...]

    @property
    def tag(self) -> str:
        """What this worker's session ids start with."""
        return tag(self.index)

    def middleware(self, settings: config.Settings) -> Middleware:
        return route_to_owner(
            self.index, self.workers, self.rundir, "/socket.io/", settings.body_timeout
        )

    def sites(self, runner: web.AppRunner, backlog: int) -> list[web.BaseSite]:
        """The shared port's sockets, and where other workers hand connections over."""
        sites: list[web.BaseSite] = [
            web.SockSite(runner, sock, backlog=backlog) for sock in self.listeners
        ]
        sites.append(HandoffSite(runner, handoff_path(self.rundir, self.index)))
        return sites


def settings_of(values: dict[str, Any]) -> config.Settings:
    """Settings from the primary's JSON (lists back to tuples, as every source gives them)."""
    return config.Settings(
        **{name: config.cast(name, value, "the primary") for name, value in values.items()}
    )


def spec_of(settings: config.Settings, **seat: Any) -> str:
    """What the primary writes to a worker's standard input."""
    return json.dumps({"settings": dataclasses.asdict(settings), **seat})


async def serve_worker(settings: config.Settings, spec: dict[str, Any]) -> None:
    from socketsvc.app.runner import serve

    index = spec["index"]
    hub = HubClient(index)
    await hub.connect(hub_path(spec["rundir"]))
    listeners = tuple(socket.socket(fileno=fd) for fd in spec["fds"])
    worker = Worker(index, spec["workers"], spec["rundir"], hub, listeners)
    stop = asyncio.Event()

    async def primary_gone() -> None:
        await hub.lost.wait()
        if not stop.is_set():
            log.warning("the primary process is gone: shutting down")
            stop.set()

    watch = asyncio.create_task(primary_gone())
    try:
        await serve(settings, stop=stop, on_ready=lambda url: hub.ready(), worker=worker)
    finally:
        watch.cancel()
        hub.close()


def main() -> int:
    spec = json.loads(sys.stdin.read())
    try:
        settings = settings_of(spec["settings"])
    except ConfigError as exc:
        print(f"socketsvc: configuration error: {exc}", file=sys.stderr)
        return 2
    node = f"{spec['node'][:56]}-w{spec['index']}"
    settings = dataclasses.replace(settings, node_id=node)
    from socketsvc.app.logs import configure_logging
    from socketsvc.app.tuning import run, tune_gc

    configure_logging(settings.log_level, settings.log_format, node)
    tune_gc()
    try:
        run(serve_worker(settings, spec))
    except ConfigError as exc:  # a handler module named in [namespaces], say
        print(f"socketsvc: configuration error: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        log.error("start-up failed", exc_info=exc.__cause__)
        print(f"socketsvc: start-up failed: {exc}", file=sys.stderr)
        return 1
    except (OSError, TimeoutError) as exc:
        print(f"socketsvc: worker {spec['index']} cannot start: {exc!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
