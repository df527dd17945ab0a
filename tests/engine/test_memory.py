"""Memory after churn (issue #14, defect 8): a closed connection is freed when it closes.

The CLI collects the garbage collector's oldest generation rarely (app/tuning.py), and a
long-lived connection's objects end up there; so anything of a closed connection held in a
reference cycle stays in memory until some much later full collection. These tests switch the
collector off and require every session of clients that went away to be freed by reference
counting alone. ``bench/soak.py`` measures the same thing over thousands of connections.
"""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import tracemalloc
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import socketsvc
from socketsvc.app.factory import SIO
from tests.conftest import StartServer, eventually


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def open_websocket(http: aiohttp.ClientSession, srv: Any) -> tuple[Any, str]:
    url = str(srv.make_url("/socket.io/")) + "?EIO=4&transport=websocket"
    ws = await http.ws_connect(url)
    sid = json.loads((await ws.receive()).data[1:])["sid"]
    await ws.send_str("40/chat,")
    assert (await ws.receive()).data.startswith("40/chat,")
    await ws.send_str('42/chat,1["join",{"room":"r","name":"n"}]')
    assert (await ws.receive()).data.startswith("43/chat,1")
    return ws, sid


@pytest.mark.usefixtures("no_cyclic_gc")
async def test_sessions_of_websocket_clients_that_vanish_are_freed_at_once(
    start_server: StartServer,
) -> None:
    srv = await start_server()
    sio = srv.app[SIO]
    async with aiohttp.ClientSession() as http:
        opened = [await open_websocket(http, srv) for _ in range(5)]
        sessions = [weakref.ref(sio.eio.sockets[sid]) for _, sid in opened]
        for ws, _ in opened:  # the connection ends without a websocket close handshake
            ws.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        await eventually(lambda: not sio.eio.sockets)
        for ws, _ in opened:
            await ws.close()
    # with the collector off, only reference counting can free them (cycles never)
    await eventually(lambda: all(ref() is None for ref in sessions))


@pytest.mark.usefixtures("no_cyclic_gc")
async def test_sessions_of_polling_clients_that_close_or_break_off_are_freed_at_once(
    start_server: StartServer,
) -> None:
    srv = await start_server()
    sio = srv.app[SIO]
    base = str(srv.make_url("/socket.io/")) + "?EIO=4&transport=polling"
    sessions = []
    async with aiohttp.ClientSession() as http:
        for breaks_off in (False, True, False, True):
            async with http.get(base) as r:
                sid = json.loads((await r.text())[1:])["sid"]
            url = f"{base}&sid={sid}"
            async with http.post(url, data="40/chat,") as r:
                assert r.status == 200
            sessions.append(weakref.ref(sio.eio.sockets[sid]))
            if breaks_off:  # a POST whose connection ends mid-body
                _, writer = await asyncio.open_connection(srv.host, srv.port)
                head = f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                writer.write(head.encode() + b"Host: x\r\nContent-Length: 9\r\n\r\n4")
                await writer.drain()
                await eventually(lambda s=sid: sio.eio.sockets[s].receiving)
                writer.transport.abort()
            else:
                async with http.post(url, data="1") as r:
                    assert r.status == 200
        await eventually(lambda: not sio.eio.sockets)
    await eventually(lambda: all(ref() is None for ref in sessions))


IDLE_CLIENTS = 80  # with the 10 before them, under max_connections_per_ip (100)


async def test_an_idle_websocket_connection_keeps_little(start_server: StartServer) -> None:
    """What socketsvc keeps per idle websocket client, counted exactly: the bytes tracemalloc
    finds still allocated, after a full collection, by code running under socketsvc's frames
    (so aiohttp's server objects it creates count, the in-process clients do not). Without a
    dict per session, a loop timer per session or copies of the handshake it is about 5.8 KB on
    Python 3.11-3.13 (8.2-8.4 KB before issue #22); bench/conncost.py --memory measures whole
    connections."""
    srv = await start_server()
    sio = srv.app[SIO]
    package = str(Path(socketsvc.__file__).parent) + "/"

    def under_socketsvc(snapshot: tracemalloc.Snapshot) -> int:
        """Bytes allocated with a socketsvc frame on the stack."""
        return sum(
            trace.size
            for trace in snapshot.traces
            if any(frame.filename.startswith(package) for frame in trace.traceback)
        )

    url = str(srv.make_url("/socket.io/")) + "?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http:

        async def idle_client() -> aiohttp.ClientWebSocketResponse:
            ws = await http.ws_connect(url)
            assert (await ws.receive()).data.startswith("0")
            await ws.send_str("40/returns,")
            assert (await ws.receive()).data.startswith("40/returns,")
            return ws

        opened: list[aiohttp.ClientWebSocketResponse] = []
        try:
            opened += [await idle_client() for _ in range(10)]  # one-time structures, caches
            gc.collect()
            tracemalloc.start(30)
            try:
                before = tracemalloc.take_snapshot()
                opened += [await idle_client() for _ in range(IDLE_CLIENTS)]
                gc.collect()
                after = tracemalloc.take_snapshot()
            finally:
                tracemalloc.stop()
            sessions = list(sio.eio.sockets.values())
            assert len(sessions) == 10 + IDLE_CLIENTS
            timers = [  # loop timers that would call a session back
                handle
                for handle in gc.get_objects()
                if isinstance(handle, asyncio.TimerHandle)
                and any(getattr(r, "__self__", None) in sessions for r in gc.get_referents(handle))
            ]
        finally:
            for ws in opened:
                await ws.close()
    assert not timers  # the heartbeats are in the server's timer lists (engine/timers.py)
    kept = (under_socketsvc(after) - under_socketsvc(before)) / IDLE_CLIENTS
    assert kept < 6500, after.compare_to(before, "lineno")[:10]
    await eventually(lambda: not sio.eio.sockets)
