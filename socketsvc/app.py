"""create_app(settings): the aiohttp application of one socketsvc node."""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from socketsvc import __version__
from socketsvc.config import Settings
from socketsvc.managers import make_manager
from socketsvc.presence import MemoryPresence
from socketsvc.registry import load_routes
from socketsvc.server import SocketServer
from socketsvc.services import Services

SETTINGS = web.AppKey("settings", Settings)
SIO = web.AppKey("sio", SocketServer)
SERVICES = web.AppKey("services", Services)

STATIC = resources.files("socketsvc") / "static"


def create_app(settings: Settings) -> web.Application:
    """A plain ``web.Application`` hosting Socket.IO at ``/socket.io/``, ``/healthz`` and the page.

    Handler modules are imported here, so a broken one fails start-up, not the first connect.
    """
    routes = load_routes(settings)
    services = Services(settings=settings, presence=MemoryPresence())
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
