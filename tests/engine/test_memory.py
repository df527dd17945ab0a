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
import weakref
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

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
