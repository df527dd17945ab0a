"""Shared fixtures: a real socketsvc app on a real port, real clients, and a task-leak check."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestServer

from socketsvc.app.factory import create_app
from socketsvc.app.runner import runner_options
from socketsvc.config import Settings
from tests.cluster import client_fixture  # noqa: F401 - the `client` fixture
from tests.redis_support import redis_prefix, redis_process, redis_url  # noqa: F401 - fixtures
from tests.tools import require_executable, require_path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "clients" / "js" / "node_modules"
TEST_NAMESPACES = {
    "/test": "tests.sample_handlers:EchoNamespace",
    "/workspace/*": "tests.sample_handlers:WorkspaceNamespace",
    "/slow": "tests.sample_handlers:SlowConnectNamespace",
    "/tasks": "tests.sample_handlers:TaskAwareNamespace",
    "/recovering": "tests.sample_handlers:RecoveringNamespace",
    "/board/*": "tests.sample_handlers:BoardNamespace",
    "/kept/*": "tests.sample_handlers:KeptNamespace",
    "/fragile/*": "tests.sample_handlers:FragileNamespace",
    "/hs": "tests.sample_handlers:HandshakeNamespace",
    "/returns": "tests.sample_handlers:ReturnsNamespace",
}

SERIALIZERS = ["json", "msgpack"]
TRANSPORTS = ["websocket", "polling"]
CLIENT_SERIALIZERS = {"json": "default", "msgpack": "msgpack"}


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "port": 0,
        "namespaces": TEST_NAMESPACES,
        "chat": True,  # beside the test namespaces (an app's own [namespaces] turn it off)
        "log_level": "warning",
        "shutdown_grace": 2.0,
        # /chat has recovery (an offset as extra last event argument) by default; the tests of
        # /chat's other features run without it, tests/sio/test_recovery.py with it.
        "namespace_recovery": {"/chat": 0},
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(params=SERIALIZERS)
def serializer(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


StartServer = Callable[..., Awaitable[TestServer]]


@pytest.fixture
def start_server(aiohttp_server: Any) -> StartServer:
    """Start ``create_app(settings)`` on 127.0.0.1 with an ephemeral port."""

    async def start(**overrides: Any) -> TestServer:
        settings = make_settings(**overrides)
        server: TestServer = await aiohttp_server(create_app(settings), **runner_options(settings))
        return server

    return start


@pytest.fixture
async def server(start_server: StartServer, serializer: str) -> TestServer:
    return await start_server(serializer=serializer)


Connect = Callable[..., Awaitable[socketio.AsyncClient]]


@pytest.fixture
async def connect(server: TestServer, serializer: str, transport: str) -> AsyncIterator[Connect]:
    """Connect python-socketio clients to ``server``; all are disconnected at teardown."""
    clients: list[socketio.AsyncClient] = []

    async def factory(
        namespaces: list[str] | None = None,
        auth: Any = None,
        connect_errors: list[Any] | None = None,
        **client_options: Any,
    ) -> socketio.AsyncClient:
        """``connect_errors`` collects the data of any ``connect_error`` the server sends."""
        client = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer], **client_options)
        clients.append(client)
        for namespace in namespaces or ["/chat"]:
            if connect_errors is not None:
                client.on("connect_error", connect_errors.append, namespace=namespace)
        await client.connect(
            str(server.make_url("/")),
            namespaces=namespaces or ["/chat"],
            transports=[transport],
            auth=auth,
            wait_timeout=5,
        )
        return client

    yield factory
    for client in clients:
        if client.connected:
            await client.disconnect()
        await client.shutdown()


ConnectTo = Callable[..., Awaitable[socketio.AsyncClient]]


@pytest.fixture
async def connect_to() -> AsyncIterator[ConnectTo]:
    """``await connect_to(server, serializer, transport, namespace)``: a python-socketio client
    of any format, transport and namespace; all are disconnected at teardown."""
    made: list[socketio.AsyncClient] = []

    async def connect(
        srv: TestServer, serializer: str = "json", transport: str = "websocket", ns: str = "/chat"
    ) -> socketio.AsyncClient:
        client = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer])
        made.append(client)
        await client.connect(
            str(srv.make_url("/")), namespaces=[ns], transports=[transport], wait_timeout=5
        )
        return client

    yield connect
    for client in made:
        if client.connected:
            await client.disconnect()
        await client.shutdown()


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds, polling briefly; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


class Inbox:
    """Collects one event for a client; ``get`` waits with a timeout instead of sleeping."""

    def __init__(self, client: socketio.AsyncClient, event: str, namespace: str = "/chat"):
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        client.on(event, self._put, namespace=namespace)

    async def _put(self, *args: Any) -> None:
        await self.queue.put(args[0] if len(args) == 1 else args)

    async def get(self, timeout: float = 5.0) -> Any:
        return await asyncio.wait_for(self.queue.get(), timeout)

    def so_far(self) -> list[Any]:
        """Everything that has arrived until now, taken without waiting.

        This is how an absence is checked: first wait for a later event the server sent the
        same client (a positive delivery in the same exchange), then expect ``[]`` here. A
        client receives its events in the order the server sent them, so an event sent before
        that one would already be here; no time window has to be guessed."""
        items = []
        while not self.queue.empty():
            items.append(self.queue.get_nowait())
        return items


@pytest.fixture
def node() -> str:
    """The node executable, once the npm packages the JS tests import are installed."""
    path = require_executable("node")
    require_path(NODE_MODULES, "clients/js/node_modules (npm ci in clients/js)")
    return path


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running after its server and clients are gone."""
    yield
    current = asyncio.current_task()
    for _ in range(50):
        leftover = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not leftover:
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"leaked tasks: {leftover}")


@pytest.fixture(autouse=True)
def _log_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="socketsvc")


@pytest.fixture(autouse=True)
def no_tracebacks_logged(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """Fail a test during which an error was logged with a traceback: a crash that is logged
    and swallowed is still a bug, even when every client got its answer. A test that provokes
    one on purpose says so with ``@pytest.mark.logs_tracebacks``."""
    yield
    if request.node.get_closest_marker("logs_tracebacks"):
        return
    records = [
        r
        for when in ("setup", "call", "teardown")
        for r in caplog.get_records(when)
        if r.levelno >= logging.ERROR and r.exc_info
    ]
    if records:
        pytest.fail(
            "tracebacks logged: "
            + "; ".join(f"{r.name}: {r.getMessage()} ({r.exc_info[1]!r})" for r in records[:3])
        )
