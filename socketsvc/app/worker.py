"""A worker process of ``socketsvc serve --workers N``: one full socketsvc node on the machine's
shared port (see :mod:`socketsvc.workers`).

The primary (:mod:`socketsvc.workers.primary`) starts it as ``python -m socketsvc.app.worker``
with its listening sockets inherited and its spec on standard input; it serves through the
same ``serve`` path as a single node, and stops when the primary is gone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import socket
import sys
from typing import Any

from socketsvc import config
from socketsvc.app.logs import configure_logging
from socketsvc.app.runner import serve
from socketsvc.app.tuning import run, tune_gc
from socketsvc.errors import ConfigError, StartupError
from socketsvc.workers.client import HubClient
from socketsvc.workers.worker import Worker, hub_path, settings_of

log = logging.getLogger("socketsvc.workers")


async def serve_worker(settings: config.Settings, spec: dict[str, Any]) -> None:
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
