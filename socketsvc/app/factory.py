"""create_app(settings): the aiohttp application of one socketsvc node, wired and nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from importlib import resources

from aiohttp import web

from socketsvc.app import health
from socketsvc.app.api import emit_route
from socketsvc.config import Settings
from socketsvc.handlers.services import Services
from socketsvc.scaleout.backends import Backend, Backends, make_backends
from socketsvc.security.policy import SecurityPolicy
from socketsvc.sio.namespaces import load_routes
from socketsvc.sio.server import SocketServer

SETTINGS = web.AppKey("settings", Settings)
SIO = web.AppKey("sio", SocketServer)
SERVICES = web.AppKey("services", Services)
BACKENDS = web.AppKey("backends", Backends)

STATIC = resources.files("socketsvc") / "static"


def create_app(settings: Settings) -> web.Application:
    """A plain ``web.Application`` hosting Socket.IO at ``/socket.io/``, the health checks, the
    chat page and (with an ``api_key``) the publish API.

    Handler modules are imported here, so a broken one fails start-up, not the first connect.
    """
    routes = load_routes(settings)
    backends = make_backends(settings)
    services = Services(settings=settings, presence=backends.presence)
    sio = SocketServer(settings, backends.manager, routes, services, SecurityPolicy(settings))
    app = web.Application(client_max_size=settings.max_payload)
    app[SETTINGS] = settings
    app[SIO] = sio
    app[SERVICES] = services
    app[BACKENDS] = backends
    sio.attach(app, socketio_path="socket.io")
    app.router.add_get("/healthz", health.healthz(sio))
    app.router.add_get("/readyz", health.readyz(backends))
    if settings.chat_page:
        app.router.add_get("/", index)
        app.router.add_static("/static/", str(STATIC), append_version=True)
    if settings.api_key:
        api = emit_route(sio, settings.api_key, settings.body_timeout)
        app.router.add_route("POST", "/api/v1/emit", api)
    for backend in backends.all():
        app.cleanup_ctx.append(_running(backend))
    app.on_shutdown.append(_close_clients)
    return app


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(str(STATIC / "index.html"))


def _running(backend: Backend) -> Callable[[web.Application], AsyncIterator[None]]:
    """One cleanup context per backend: started before the node serves, stopped after."""

    async def run(app: web.Application) -> AsyncIterator[None]:
        await backend.start()
        try:
            yield
        finally:
            await backend.stop()

    return run


async def _close_clients(app: web.Application) -> None:
    await app[SIO].close_all(timeout=app[SETTINGS].shutdown_grace)
