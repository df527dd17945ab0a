"""The delivery fast path: direct websocket writes, one frame per broadcast, the writer task
taking over for clients that fall behind. What it must never change: order, completeness,
binary, and other clients' delivery when one connection goes away mid-broadcast."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
import pytest
import socketio

from socketsvc.app.factory import SIO
from socketsvc.engine.websocket import WRITE_HIGH_WATER
from tests.conftest import CLIENT_SERIALIZERS, StartServer

NS = "/test"


async def join_all(url: str, transports: list[str], room: str) -> list[Any]:
    received: list[Any] = []
    clients = []
    for index, transport in enumerate(transports):
        client = socketio.AsyncClient(serializer="msgpack" if index % 2 else "default")
        box: list[Any] = []
        received.append(box)
        client.on("flood", box.append, namespace=NS)
        await client.connect(url, namespaces=[NS], transports=[transport])
        await client.call("enter", room, namespace=NS)
        clients.append(client)
    return [clients, received]


async def test_broadcasts_arrive_complete_and_in_order_on_every_transport(
    start_server: StartServer,
) -> None:
    server = await start_server()
    url = str(server.make_url("/"))
    clients, received = await join_all(url, ["websocket"] * 3 + ["polling"] * 2, "order")
    assert await clients[0].call("flood", ("order", 300, 10), namespace=NS, timeout=10) == 300
    for box in received:
        for _ in range(500):
            if len(box) == 300:
                break
            await asyncio.sleep(0.01)
        assert [m["seq"] for m in box] == list(range(300))
    for client in clients:
        await client.disconnect()
        await client.shutdown()


async def test_a_client_vanishing_mid_broadcast_affects_nobody_else(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    url = str(server.make_url("/"))
    clients, received = await join_all(url, ["websocket"] * 4, "vanish")
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.make_url("/socket.io/?EIO=4&transport=websocket"))
        await ws.receive(timeout=5)
        await ws.send_str("40/test,")
        await ws.receive(timeout=5)
        await ws.send_str('42/test,1["enter","vanish"]')
        await ws.receive(timeout=5)
        flood = asyncio.ensure_future(
            clients[0].call("flood", ("vanish", 500, 200), namespace=NS, timeout=10)
        )
        await ws.close()
        assert await flood == 500
    for box in received:
        for _ in range(500):
            if len(box) == 500:
                break
            await asyncio.sleep(0.01)
        assert [m["seq"] for m in box] == list(range(500))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    for client in clients:
        await client.disconnect()
        await client.shutdown()


async def test_a_slow_reader_falls_back_to_the_writer_and_still_gets_everything_in_order(
    start_server: StartServer,
) -> None:
    server = await start_server()
    sio = server.app[SIO]
    count, size = 300, 60_000  # 18 MB: more than loopback socket buffers take at once
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.make_url("/socket.io/?EIO=4&transport=websocket"))
        opened = json.loads((await ws.receive(timeout=5)).data[1:])
        await ws.send_str("40/test,")
        await ws.receive(timeout=5)
        await ws.send_str('42/test,1["enter","slow"]')
        await ws.receive(timeout=5)
        # Stop reading while the server floods this client.
        await ws.send_str(f'42/test,2["flood","slow",{count},{size}]')
        socket = sio.eio.sockets[opened["sid"]]
        backlog_seen = 0
        for _ in range(200):
            transport = socket._ws._writer.transport
            backlog_seen = max(backlog_seen, transport.get_write_buffer_size())
            if backlog_seen > WRITE_HIGH_WATER:
                break
            await asyncio.sleep(0.01)
        assert backlog_seen > WRITE_HIGH_WATER
        seqs: list[int] = []
        while len(seqs) < count:
            msg = await ws.receive(timeout=10)
            if msg.data.startswith('42/test,["flood"'):
                seqs.append(json.loads(msg.data[len("42/test,") :])[1]["seq"])
        assert seqs == list(range(count))
        await ws.close()


async def test_a_broadcast_stays_behind_what_the_same_turn_sent_before_it(
    start_server: StartServer, serializer: str
) -> None:
    """Single-recipient frames are coalesced per event-loop turn, broadcasts are written at
    once; a client that gets both in one turn still gets them in the order they were sent."""
    server = await start_server()
    url = str(server.make_url("/"))
    clients = []
    seen: list[Any] = []
    for _ in range(3):
        client = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer])
        await client.connect(url, namespaces=[NS], transports=["websocket"])
        await client.call("enter", "turn", namespace=NS)
        clients.append(client)
    sender = clients[0]
    sender.on("note", lambda text: seen.append(("note", text)), namespace=NS)
    sender.on("shout", lambda data: seen.append(("shout", data["text"])), namespace=NS)
    for n in range(20):
        await sender.call("note_then_shout", ("turn", str(n)), namespace=NS, timeout=5)
    for _ in range(500):
        if len(seen) == 40:
            break
        await asyncio.sleep(0.01)
    assert seen == [(kind, str(n)) for n in range(20) for kind in ("note", "shout")]
    for client in clients:
        await client.disconnect()
        await client.shutdown()
