"""create_app(settings): the aiohttp application of one socketsvc node, wired and nothing else."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import TYPE_CHECKING

from aiohttp import web

from socketsvc.admin.feed import ADMIN_FEED, AdminFeed
from socketsvc.admin.namespace import AdminNamespace
from socketsvc.app import health
from socketsvc.app.api import disconnect_route, emit_route
from socketsvc.app.exposition import NodeCollector, metrics_route, registry_for
from socketsvc.app.metrics import NamespaceLabels, NodeMetrics
from socketsvc.config import Settings
from socketsvc.config.derived import node_name
from socketsvc.errors import StartupError
from socketsvc.handlers.base import BaseNamespace
from socketsvc.handlers.routes import HandlerRoute, load_routes
from socketsvc.handlers.services import Services
from socketsvc.scaleout.backends import Backend, Backends, make_backends
from socketsvc.security.policy import SecurityPolicy
from socketsvc.sio.namespaces import class_windows
from socketsvc.sio.observer import combine
from socketsvc.sio.recovery import Windows
from socketsvc.sio.server import SocketServer

if TYPE_CHECKING:
    from socketsvc.workers.worker import Worker

log = logging.getLogger("socketsvc")

SETTINGS = web.AppKey("settings", Settings)
SIO = web.AppKey("sio", SocketServer)
SERVICES = web.AppKey("services", Services)
BACKENDS = web.AppKey("backends", Backends)

STATIC = resources.files("socketsvc") / "static"
ADMIN_UI = STATIC / "admin"  # @socket.io/admin-ui's ui/dist, vendored (clients/js build:admin-ui)


def create_app(settings: Settings, worker: Worker | None = None) -> web.Application:
    """A plain ``web.Application`` hosting Socket.IO at ``/socket.io/``, the health checks, the
    chat page and (with an ``api_key``) the publish API.

    Handler modules are imported here, so a broken one fails start-up, not the first connect.
    Their ``lifespan`` hooks run after the backends start and end before they stop.
    ``worker``: one of several processes on the machine's port (see workers/), which share
    their backends, route requests to the session's worker and answer health and metrics for
    all of them.
    """
    routes = load_routes(settings)
    extra = [settings.admin_namespace] if settings.admin_ui else []
    metrics = NodeMetrics(NamespaceLabels(routes, extra)) if settings.metrics else None
    feed = AdminFeed(settings.admin_namespace) if settings.admin_ui else None
    observer = combine(metrics, feed)
    windows = Windows(settings, class_windows(routes))
    if worker is not None and settings.manager == "memory":
        from socketsvc.workers.backends import worker_backends

        backends = worker_backends(worker.hub, windows, observer)
    else:
        backends = make_backends(settings, windows, observer)
    services = Services(
        settings=settings,
        presence=backends.presence,
        archive=backends.archive,
        cluster=backends.cluster,
        redis=backends.redis,
    )
    security = SecurityPolicy(settings)
    _log_routes(routes, security)
    sio = SocketServer(
        settings,
        backends.manager,
        routes,
        services,
        security,
        backends.recovery,
        observer,
        sid_prefix=worker.tag if worker is not None else "",
    )
    if feed is not None:
        services.provide(ADMIN_FEED, feed)
        if worker is not None:
            from socketsvc.admin.relay import ADMIN_RELAY
            from socketsvc.workers.admin_relay import HubAdminRelay

            services.provide(ADMIN_RELAY, HubAdminRelay(worker.hub))
        sio.register_namespace(AdminNamespace(settings.admin_namespace, services))
    middlewares = [worker.middleware(settings)] if worker is not None else []
    app = web.Application(client_max_size=settings.max_payload, middlewares=middlewares)
    app[SETTINGS] = settings
    app[SIO] = sio
    app[SERVICES] = services
    app[BACKENDS] = backends
    sio.attach(app, socketio_path="socket.io")
    registry = None
    if metrics is not None:
        registry = registry_for(NodeCollector(metrics, sio, backends, node_name(settings)))
    if worker is None:
        app.router.add_get("/healthz", health.healthz(sio))
        app.router.add_get("/readyz", health.readyz(backends))
        if registry is not None:
            app.router.add_get("/metrics", metrics_route(registry, settings.metrics_token))
    else:
        from socketsvc.workers.machine import Machine

        machine = Machine(worker.hub, worker.workers, sio, backends, registry)
        app.router.add_get("/healthz", machine.healthz)
        app.router.add_get("/readyz", machine.readyz)
        if registry is not None:
            app.router.add_get("/metrics", machine.metrics_route(settings.metrics_token))
    if settings.admin_ui:
        app.router.add_get("/admin", admin_redirect)
        app.router.add_get("/admin/", admin_index)
        app.router.add_static("/admin/", str(ADMIN_UI))
    if settings.chat_page and any(route.namespace == "/chat" for route in routes):
        app.router.add_get("/", index)
        app.router.add_static("/static/", str(STATIC), append_version=True)
    if settings.api_key:
        api = emit_route(sio, settings.api_key, settings.body_timeout)
        app.router.add_route("POST", "/api/v1/emit", api)
        revoke = disconnect_route(sio, settings.api_key, settings.body_timeout)
        app.router.add_route("POST", "/api/v1/disconnect", revoke)
    for backend in backends.all():
        app.cleanup_ctx.append(_running(backend))
    for handler in dict.fromkeys(route.handler for route in routes):
        if handler.lifespan is not None:
            app.cleanup_ctx.append(_lifespan(handler, services))
    app.on_shutdown.append(_close_clients)
    return app


def _log_routes(routes: list[HandlerRoute], security: SecurityPolicy) -> None:
    """One line per namespace at start-up: which class serves it, with which auth mode."""
    for route in routes:
        kind = ""
        if route.is_pattern:
            kept = "kept" if route.handler.keep_when_empty else "released"
            kind = f", one instance per namespace, {kept} when empty"
        log.info(
            "namespace %s: %s (auth %s%s)",
            route.namespace,
            route.target,
            security.authenticator.mode(route.namespace),
            kind,
        )


def _lifespan(
    handler: type[BaseNamespace], services: Services
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A handler class's ``lifespan`` hook as a cleanup context: start-up before the node
    serves, shutdown after its clients are gone. A failure names the class."""
    name = f"{handler.__qualname__}.lifespan"

    async def run(app: web.Application) -> AsyncIterator[None]:
        assert handler.lifespan is not None
        hook = handler.lifespan(services)
        try:
            await anext(hook)
        except StopAsyncIteration:
            raise StartupError(f"{name} did not yield") from None
        except Exception as exc:
            raise StartupError(f"{name} failed: {type(exc).__name__}: {exc}") from exc
        log.info("started %s", name)
        yield
        try:
            await anext(hook)
        except StopAsyncIteration:
            pass
        except Exception:
            log.exception("%s failed while shutting down", name)
        else:
            log.error("%s yielded more than once; its shutdown part was not run", name)
            await hook.aclose()

    return run


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
