"""create_app(settings): the aiohttp application of one socketsvc node."""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from aiohttp import web

from socketsvc import __version__
from socketsvc.app.api import emit_route
from socketsvc.config import Settings
from socketsvc.handlers.services import Services
from socketsvc.scaleout.link import Link
from socketsvc.scaleout.presence import make_presence
from socketsvc.scaleout.redis_manager import RedisManager
from socketsvc.scaleout.redis_presence import RedisPresence
from socketsvc.sio.fanout import make_manager
from socketsvc.sio.namespaces import load_routes
from socketsvc.sio.server import SocketServer

SETTINGS = web.AppKey("settings", Settings)
SIO = web.AppKey("sio", SocketServer)
SERVICES = web.AppKey("services", Services)

STATIC = resources.files("socketsvc") / "static"


def create_app(settings: Settings) -> web.Application:
    """A plain ``web.Application`` hosting Socket.IO at ``/socket.io/``, ``/healthz`` and the page.

    Handler modules are imported here, so a broken one fails start-up, not the first connect.
    """
    routes = load_routes(settings)
    services = Services(settings=settings, presence=make_presence(settings))
    sio = SocketServer(settings, make_manager(settings), routes, services)
    app = web.Application(client_max_size=settings.max_payload)
    app[SETTINGS] = settings
    app[SIO] = sio
    app[SERVICES] = services
    sio.attach(app, socketio_path="socket.io")
    app.router.add_get("/healthz", healthz)
    if settings.chat_page:
        app.router.add_get("/", index)
        app.router.add_static("/static/", str(STATIC), append_version=True)
    app.on_shutdown.append(_close_clients)
    # scale-out (issue #7): Redis background tasks, readiness, publishing API
    app.cleanup_ctx.append(_run_bus)
    app.cleanup_ctx.append(_run_presence)
    app.router.add_get("/readyz", readyz)
    if settings.api_key:
        app.router.add_route(*_api_route(sio, settings.api_key))
    return app


async def healthz(request: web.Request) -> web.Response:
    sio = request.app[SIO]
    return web.json_response(
        {"status": "ok", "version": __version__, "clients": len(sio.eio.sockets)}
    )


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(str(STATIC / "index.html"))


async def _close_clients(app: web.Application) -> None:
    await app[SIO].close_all(timeout=app[SETTINGS].shutdown_grace)


# -- scale-out (issue #7) -------------------------------------------------------------------


async def _run_bus(app: web.Application) -> AsyncIterator[None]:
    """The Redis bus listener and publisher (manager = redis); nothing for memory."""
    manager = app[SIO].manager
    if not isinstance(manager, RedisManager):
        yield
        return
    await manager.start()
    try:
        yield
    finally:
        await manager.stop()


async def _run_presence(app: web.Application) -> AsyncIterator[None]:
    """The presence refresher (manager = redis); nothing for memory."""
    presence = app[SERVICES].presence
    if not isinstance(presence, RedisPresence):
        yield
        return
    await presence.start()
    try:
        yield
    finally:
        await presence.stop()


async def readyz(request: web.Request) -> web.Response:
    """200 when this node can reach everything it shares state through, else 503 and why."""
    problems = [
        link.problem()
        for link in (
            getattr(request.app[SIO].manager, "link", None),
            getattr(request.app[SERVICES].presence, "link", None),
        )
        if isinstance(link, Link) and link.problem()
    ]
    if problems:
        return web.json_response({"status": "unavailable", "reasons": problems}, status=503)
    return web.json_response({"status": "ready"})


def _api_route(sio: SocketServer, api_key: str) -> tuple[str, str, Any]:
    route = emit_route(sio, api_key)
    return route.method, route.path, route.handler
