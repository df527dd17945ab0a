"""Run one node until SIGTERM/SIGINT, then drain: the path shared by the CLI and the tests."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from socketsvc.app.factory import SIO, create_app
from socketsvc.config import Settings

if TYPE_CHECKING:
    from socketsvc.workers.worker import Worker

log = logging.getLogger("socketsvc")
LISTEN_BACKLOG = 1024


async def serve(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[str], None] | None = None,
    worker: Worker | None = None,
) -> None:
    """Serve until ``stop`` is set or a termination signal arrives.

    Shutdown closes every client's transport (clients reconnect to another node), stops
    background tasks and closes the listener, all within ``shutdown_grace`` seconds.
    ``worker``: this process is one of several on the machine's port (see workers/).
    """
    app = create_app(settings, worker)
    runner = web.AppRunner(app, **runner_options(settings))
    await runner.setup()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        # A deep accept queue (Node listens with 511): aiohttp's default of 128 drops SYNs when
        # hundreds of clients reconnect at once, and each dropped one waits a second to retry.
        if worker is None:
            sites: list[web.BaseSite] = [
                web.TCPSite(runner, settings.host, settings.port, backlog=LISTEN_BACKLOG)
            ]
        else:
            sites = worker.sites(runner, LISTEN_BACKLOG)
        for site in sites:
            await site.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        url = _url(runner)
        log.info(
            "%s on %s (serializer=%s, loop=%s)",
            "socketsvc listening" if worker is None else f"worker {worker.index} serving",
            url,
            settings.serializer,
            type(loop).__module__.split(".")[0],
        )
        if on_ready is not None:
            on_ready(url)
        await stop.wait()
        log.info("shutting down")
        app[SIO].begin_shutdown()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
    log.info("stopped")


def runner_options(settings: Settings) -> dict[str, Any]:
    """aiohttp's per-connection options for a node (the tests' servers use them too).

    ``keepalive_timeout``: aiohttp closes a connection once it has gone that long without a
    complete request. Its timer runs from the connection's start and from the end of each
    response, and fires while no request is being handled, so it bounds a silent connection,
    an idle kept-alive one and one that trickles its headers alike (aiohttp's own default is
    an hour). Bodies are bounded by ``body_timeout`` where they are read; websockets and
    long-polls in progress are not idle.

    ``shutdown_timeout``: how long shutdown waits for requests still being handled."""
    return {
        "access_log": None,
        "keepalive_timeout": settings.keepalive_timeout,
        "shutdown_timeout": settings.shutdown_grace,
    }


def _url(runner: web.AppRunner) -> str:
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}"
