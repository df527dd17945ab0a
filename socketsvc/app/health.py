"""``GET /healthz`` (liveness) and ``GET /readyz`` (readiness) of one node."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from socketsvc import __version__
from socketsvc.scaleout.backends import Backends
from socketsvc.sio.server import SocketServer

Handler = Callable[[web.Request], Awaitable[web.Response]]


def healthz(sio: SocketServer) -> Handler:
    """200 while the process serves: version and the number of open transports."""

    async def handle(request: web.Request) -> web.Response:
        return web.json_response(
            {"status": "ok", "version": __version__, "clients": len(sio.eio.sockets)}
        )

    return handle


def readyz(backends: Backends) -> Handler:
    """200 when every backend can serve; else 503 with each backend's reason."""

    async def handle(request: web.Request) -> web.Response:
        problems = [p for backend in backends.all() if (p := backend.problem()) is not None]
        if problems:
            return web.json_response({"status": "unavailable", "reasons": problems}, status=503)
        return web.json_response({"status": "ready"})

    return handle
