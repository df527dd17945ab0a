"""Fixtures for the raw Engine.IO / Socket.IO protocol suite.

Every test gets a ``target`` (ids ``socketsvc`` and ``node``): a running server
reachable on 127.0.0.1, speaking Socket.IO v5 over Engine.IO v4 with
pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1e6, and mirroring the
same events on ``/`` and ``/custom`` (see ``node_server.mjs``).
``SOCKETSVC_TEST_TARGETS=socketsvc`` leaves the Node target out (the mutation runs: Node
cannot see a mutant of socketsvc).
"""

from __future__ import annotations

import asyncio
import os
import queue
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from protocol_client import Target

from socketsvc.app.factory import SETTINGS, create_app
from socketsvc.app.runner import runner_options
from socketsvc.config import Settings
from tests.tools import require_executable, require_path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
NODE_MODULES = REPO / "clients" / "js" / "node_modules" / "socket.io"
CONNECT_TIMEOUT_MS = 1000
BODY_TIMEOUT_MS = 300  # engine.io's httpRequestBodyTimeout (30 s by default), short for tests

# --------------------------------------------------------------------- socketsvc
MIRROR = "tests.protocol.mirror:MirrorNamespace"


def build_socketsvc_app() -> web.Application:
    """The socketsvc server under test: the real app factory with the suite's settings."""
    settings = Settings(
        port=0,
        ping_interval=0.3,
        ping_timeout=0.2,
        connect_timeout=CONNECT_TIMEOUT_MS / 1000,
        body_timeout=BODY_TIMEOUT_MS / 1000,
        max_payload=1_000_000,
        log_level="warning",
        shutdown_grace=1.0,
        namespaces={"/": MIRROR, "/custom": MIRROR},
    )
    return create_app(settings)


@pytest.fixture
def socketsvc_app() -> web.Application:
    return build_socketsvc_app()


# -------------------------------------------------------------------------- node
def _read_ready(proc: subprocess.Popen[str], timeout: float) -> int:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:  # ends at EOF
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty as exc:
        raise RuntimeError("node server did not become ready") from exc
    if not line.startswith("READY "):
        raise RuntimeError(f"unexpected node output: {line!r}")
    return int(line.split()[1])


@pytest.fixture(scope="session")
def node_server() -> Iterator[Target]:
    node = require_executable("node")
    require_path(NODE_MODULES, "clients/js/node_modules/socket.io (npm ci in clients/js)")
    env = dict(
        os.environ, CONNECT_TIMEOUT_MS=str(CONNECT_TIMEOUT_MS), BODY_TIMEOUT_MS=str(BODY_TIMEOUT_MS)
    )
    proc = subprocess.Popen(
        [node, str(HERE / "node_server.mjs"), "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=HERE,
    )
    try:
        port = _read_ready(proc, timeout=15)
        yield Target("node", f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()


# ------------------------------------------------------------------------ target
TARGETS = os.environ.get("SOCKETSVC_TEST_TARGETS", "socketsvc,node").split(",")


@pytest.fixture(params=TARGETS)
async def target(request: pytest.FixtureRequest) -> AsyncIterator[Target]:
    if request.param == "node":
        yield request.getfixturevalue("node_server")
        return
    app: web.Application = request.getfixturevalue("socketsvc_app")
    runner = web.AppRunner(app, **runner_options(app[SETTINGS]))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Target("socketsvc", f"http://127.0.0.1:{port}")
    finally:
        await asyncio.wait_for(runner.cleanup(), 10)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s
