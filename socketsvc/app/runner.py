"""Run one node until SIGTERM/SIGINT, then drain: the path shared by the CLI and the tests."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from aiohttp import web

from socketsvc.app.factory import create_app
from socketsvc.config import Settings

log = logging.getLogger("socketsvc")
LISTEN_BACKLOG = 1024


async def serve(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until ``stop`` is set or a termination signal arrives.

    Shutdown closes every client's transport (clients reconnect to another node), stops
    background tasks and closes the listener, all within ``shutdown_grace`` seconds.
    """
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        # A deep accept queue (Node listens with 511): aiohttp's default of 128 drops SYNs when
        # hundreds of clients reconnect at once, and each dropped one waits a second to retry.
        site = web.TCPSite(
            runner,
            settings.host,
            settings.port,
            shutdown_timeout=settings.shutdown_grace,
            backlog=LISTEN_BACKLOG,
        )
        await site.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        url = _url(runner)
        log.info(
            "socketsvc listening on %s (serializer=%s, loop=%s)",
            url,
            settings.serializer,
            type(loop).__module__.split(".")[0],
        )
        if on_ready is not None:
            on_ready(url)
        await stop.wait()
        log.info("shutting down")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
    log.info("stopped")


def _url(runner: web.AppRunner) -> str:
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}"
