"""Websocket messages handled where they are parsed (engine/inbox.py) keep one client's order.

A raw client sends packets back to back, without waiting for answers, the way a busy client's
frames arrive in one TCP read: a CONNECT whose handler waits must be finished before the
events after it are handled, and the acks come back in order.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import msgpack
import pytest

from tests.conftest import StartServer

NS = "/slow"


class RawClient:
    """Socket.IO v5 over Engine.IO v4 websocket frames, in either wire format."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, wire: str) -> None:
        self.ws, self.wire = ws, wire

    async def send(self, kind: int, data: Any = None, id: int | None = None) -> None:
        if self.wire == "msgpack":
            packet: dict[str, Any] = {"type": kind, "nsp": NS}
            if data is not None:
                packet["data"] = data
            if id is not None:
                packet["id"] = id
            await self.ws.send_bytes(msgpack.packb(packet))
        else:
            body = "" if data is None else json.dumps(data)
            await self.ws.send_str(f"4{kind}{NS},{'' if id is None else id}{body}")

    async def receive(self) -> dict[str, Any]:
        """The next Socket.IO packet, as {type, nsp, data, id}; pings are answered."""
        while True:
            msg = await self.ws.receive(timeout=5)
            if msg.type is aiohttp.WSMsgType.BINARY:
                packet: dict[str, Any] = msgpack.unpackb(msg.data)
                return packet
            assert msg.type is aiohttp.WSMsgType.TEXT, msg
            if msg.data == "2":
                await self.ws.send_str("3")
                continue
            assert msg.data[0] == "4", msg.data
            kind, rest = int(msg.data[1]), msg.data[2:]
            assert rest.startswith(NS + ","), rest
            rest = rest[len(NS) + 1 :]
            digits = len(rest) - len(rest.lstrip("0123456789"))
            return {
                "type": kind,
                "nsp": NS,
                "id": int(rest[:digits]) if digits else None,
                "data": json.loads(rest[digits:]) if rest[digits:] else None,
            }


@pytest.fixture(params=["json", "msgpack"])
async def raw(start_server: StartServer, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    server = await start_server()
    async with aiohttp.ClientSession() as session:
        url = server.make_url("/socket.io/?EIO=4&transport=websocket")
        async with session.ws_connect(url) as ws:
            opened = await ws.receive(timeout=5)
            assert opened.data.startswith("0{")
            yield RawClient(ws, request.param)


async def test_events_right_behind_a_waiting_connect_are_handled_after_it(raw) -> None:  # type: ignore[no-untyped-def]
    await raw.send(0)  # CONNECT: the handler sleeps
    for n in range(1, 6):
        await raw.send(2, ["echo", n], id=n)
    connected = await raw.receive()
    assert connected["type"] == 0 and "sid" in connected["data"]
    acks = [await raw.receive() for _ in range(5)]
    assert [(a["type"], a["id"], a["data"]) for a in acks] == [(3, n, [n]) for n in range(1, 6)]


async def test_a_waiting_handler_does_not_hold_up_the_next_event(raw) -> None:  # type: ignore[no-untyped-def]
    await raw.send(0)
    assert (await raw.receive())["type"] == 0
    await raw.send(2, ["nap", 0.2], id=1)
    await raw.send(2, ["echo", "quick"], id=2)
    first, second = await raw.receive(), await raw.receive()
    assert (first["id"], first["data"]) == (2, ["quick"])
    assert (second["id"], second["data"]) == (1, ["rested"])


async def test_disconnect_then_events_in_one_burst(raw) -> None:  # type: ignore[no-untyped-def]
    """A packet that is handled later (DISCONNECT) still goes before the events behind it."""
    await raw.send(0)
    assert (await raw.receive())["type"] == 0
    await raw.send(2, ["echo", "before"], id=1)
    await raw.send(1)  # DISCONNECT from /slow
    await raw.send(2, ["echo", "after"], id=2)  # not connected any more: closes the transport
    ack = await raw.receive()
    assert (ack["id"], ack["data"]) == (1, ["before"])
    msg = await raw.ws.receive(timeout=5)
    while msg.type is aiohttp.WSMsgType.TEXT and msg.data == "2":
        msg = await raw.ws.receive(timeout=5)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) or msg.data == "1"
