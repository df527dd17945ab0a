"""create_app(settings): the aiohttp application of one socketsvc node, wired and nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from importlib import resources

from aiohttp import web

from socketsvc.admin.auth import AdminAuth
from socketsvc.admin.feed import AdminFeed
from socketsvc.admin.namespace import AdminNamespace
from socketsvc.app import health
from socketsvc.app.api import emit_route
from socketsvc.app.exposition import NodeCollector, metrics_route, registry_for
from socketsvc.app.metrics import NamespaceLabels, NodeMetrics
from socketsvc.config import Settings, node_name
from socketsvc.handlers.services import Services
from socketsvc.scaleout.backends import Backend, Backends, make_backends
from socketsvc.security.policy import SecurityPolicy
from socketsvc.sio.namespaces import class_windows, load_routes
from socketsvc.sio.observer import combine
from socketsvc.sio.recovery import Windows
from socketsvc.sio.server import SocketServer

SETTINGS = web.AppKey("settings", Settings)
SIO = web.AppKey("sio", SocketServer)
SERVICES = web.AppKey("services", Services)
BACKENDS = web.AppKey("backends", Backends)

STATIC = resources.files("socketsvc") / "static"
ADMIN_UI = STATIC / "admin"  # @socket.io/admin-ui's ui/dist, vendored (clients/js build:admin-ui)


def create_app(settings: Settings) -> web.Application:
    """A plain ``web.Application`` hosting Socket.IO at ``/socket.io/``, the health checks, the
    chat page and (with an ``api_key``) the publish API.

    Handler modules are imported here, so a broken one fails start-up, not the first connect.
    """
    routes = load_routes(settings)
    extra = [settings.admin_namespace] if settings.admin_ui else []
    metrics = NodeMetrics(NamespaceLabels(routes, extra)) if settings.metrics else None
    feed = AdminFeed(settings.admin_namespace) if settings.admin_ui else None
    observer = combine(metrics, feed)
    backends = make_backends(settings, Windows(settings, class_windows(routes)), observer)
    services = Services(settings=settings, presence=backends.presence, archive=backends.archive)
    security = SecurityPolicy(settings)
    sio = SocketServer(
        settings, backends.manager, routes, services, security, backends.recovery, observer
    )
    if feed is not None:
        auth = AdminAuth(settings.admin_username, settings.admin_password_hash)
        sio.register_namespace(AdminNamespace(settings.admin_namespace, services, feed, auth))
    app = web.Application(client_max_size=settings.max_payload)
    app[SETTINGS] = settings
    app[SIO] = sio
    app[SERVICES] = services
    app[BACKENDS] = backends
    sio.attach(app, socketio_path="socket.io")
    app.router.add_get("/healthz", health.healthz(sio))
    app.router.add_get("/readyz", health.readyz(backends))
    if metrics is not None:
        registry = registry_for(NodeCollector(metrics, sio, backends, node_name(settings)))
        app.router.add_get("/metrics", metrics_route(registry, settings.metrics_token))
    if settings.admin_ui:
        app.router.add_get("/admin", admin_redirect)
        app.router.add_get("/admin/", admin_index)
        app.router.add_static("/admin/", str(ADMIN_UI))
    if settings.chat_page:
        app.router.add_get("/", index)
        app.router.add_static("/static/", str(STATIC), append_version=True)
    if settings.api_key:
        app.router.add_route("POST", "/api/v1/emit", emit_route(sio, settings.api_key))
    for backend in backends.all():
        app.cleanup_ctx.append(_running(backend))
    app.on_shutdown.append(_close_clients)
    return app


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(str(STATIC / "index.html"))


async def admin_index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(str(ADMIN_UI / "index.html"))


async def admin_redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/admin/")


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
