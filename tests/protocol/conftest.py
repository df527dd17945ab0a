"""Fixtures for the raw Engine.IO / Socket.IO protocol suite.

Every test gets a ``target`` (ids ``socketsvc`` and ``node``): a running server
reachable on 127.0.0.1, speaking Socket.IO v5 over Engine.IO v4 with
pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1e6, and mirroring the
same events on ``/`` and ``/custom`` (see ``node_server.mjs``).
"""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp import web
from protocol_client import Target

from socketsvc.engine import EngineServer

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
NODE_MODULES = REPO / 'clients' / 'js' / 'node_modules' / 'socket.io'
CONNECT_TIMEOUT_MS = 1000

# Tests whose socketsvc case is fixed by the main branch's Socket.IO server
# layer, not by the Engine.IO layer under test here.
SIO_LAYER_XFAIL = pytest.mark.xfail(reason='fixed in socketsvc server layer', strict=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        'markers', 'sio_server_layer: socketsvc case xfails until the Socket.IO '
        'server layer from main is integrated')


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, 'callspec', None)
        if (item.get_closest_marker('sio_server_layer') is not None and callspec is not None
                and callspec.params.get('target') == 'socketsvc'):
            item.add_marker(SIO_LAYER_XFAIL)


# --------------------------------------------------------------------- socketsvc
class MirrorNamespace(socketio.AsyncNamespace):
    """Server side of the suite, mirroring node_server.mjs."""

    async def trigger_event(self, event: str, *args: Any) -> Any:
        sid = args[0] if args else None
        if event == 'connect':
            auth = args[2] if len(args) > 2 and args[2] is not None else {}
            await self.emit('auth', auth, to=sid)
            return None
        if event == 'disconnect':
            return None
        data = args[1:]
        if event == 'message':
            await self.emit('message-back', data, to=sid)
        elif event == 'ack-echo':
            return data
        elif event == 'burst':
            for i in range(int(data[0])):
                await self.emit('burst', i, to=sid)
        elif event == 'disconnect-me':
            await self.disconnect(sid)
        elif event == 'force-close':
            eio_sid = self.server.manager.eio_sid_from_sid(sid, self.namespace)
            await self.disconnect(sid)
            await self.server.eio.disconnect(eio_sid)
        return None


class ProtocolSioServer(socketio.AsyncServer):
    def _engineio_server_class(self) -> type[EngineServer]:
        return EngineServer


def build_socketsvc_app() -> web.Application:
    """THE place that builds the socketsvc server under test.

    At integration, replace the body with ``socketsvc.app.create_app(settings)``
    (pingInterval 0.3 s, pingTimeout 0.2 s, maxPayload 1e6, mirror namespaces).
    """
    sio = ProtocolSioServer(async_mode='aiohttp', ping_interval=0.3, ping_timeout=0.2,
                            max_http_buffer_size=1_000_000, logger=False,
                            engineio_logger=False)
    sio.register_namespace(MirrorNamespace('/'))
    sio.register_namespace(MirrorNamespace('/custom'))
    app = web.Application()
    sio.attach(app)

    async def on_shutdown(_app: web.Application) -> None:
        await sio.shutdown()

    app.on_shutdown.append(on_shutdown)
    return app


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
        raise RuntimeError('node server did not become ready') from exc
    if not line.startswith('READY '):
        raise RuntimeError(f'unexpected node output: {line!r}')
    return int(line.split()[1])


@pytest.fixture(scope='session')
def node_server() -> Iterator[Target]:
    node = shutil.which('node')
    if node is None or not NODE_MODULES.exists():
        pytest.skip('node or clients/js/node_modules missing (cd clients/js && npm ci)')
    env = dict(os.environ, CONNECT_TIMEOUT_MS=str(CONNECT_TIMEOUT_MS))
    proc = subprocess.Popen([node, str(HERE / 'node_server.mjs'), '0'], stdout=subprocess.PIPE,
                            text=True, env=env, cwd=HERE)
    try:
        port = _read_ready(proc, timeout=15)
        yield Target('node', f'http://127.0.0.1:{port}')
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
@pytest.fixture(params=['socketsvc', 'node'])
async def target(request: pytest.FixtureRequest) -> AsyncIterator[Target]:
    if request.param == 'node':
        yield request.getfixturevalue('node_server')
        return
    app: web.Application = request.getfixturevalue('socketsvc_app')
    runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, '127.0.0.1', 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Target('socketsvc', f'http://127.0.0.1:{port}')
    finally:
        await asyncio.wait_for(runner.cleanup(), 10)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s
