"""A raw websocket Socket.IO client (JSON parser) for what stock clients hide: a transport that
drops without a goodbye, frames sent and read exactly as written."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp


async def join(
    http: aiohttp.ClientSession, srv: Any, namespace: str, auth: dict[str, Any] | None = None
) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
    """A websocket connected to ``namespace`` on the test server ``srv``; it and its CONNECT
    payload (``sid``, and ``pid`` where the namespace has recovery)."""
    ws = await http.ws_connect(str(srv.make_url("/socket.io/")) + "?EIO=4&transport=websocket")
    await ws.receive_str()  # the Engine.IO open packet
    await ws.send_str(f"40{namespace}," + (json.dumps(auth) if auth else ""))
    reply = await ws.receive_str()
    assert reply.startswith(f"40{namespace},"), reply
    payload: dict[str, Any] = json.loads(reply.split(",", 1)[1])
    return ws, payload


async def ask(
    ws: aiohttp.ClientWebSocketResponse, namespace: str, id: int, event: str, *args: Any
) -> Any:
    """Send an acked event; the first argument of its ack (other packets are skipped)."""
    await ws.send_str(f"42{namespace},{id}" + json.dumps([event, *args]))
    ack = f"43{namespace},{id}["
    while not (frame := await ws.receive_str()).startswith(ack):
        pass
    return json.loads(frame[len(ack) - 1 :])[0]


async def next_packet(ws: aiohttp.ClientWebSocketResponse) -> str:
    """The next frame that is not a PING (answered, as a client does); within 10 s."""
    async with asyncio.timeout(10):
        while (frame := await ws.receive_str()) == "2":
            await ws.send_str("3")
    return frame
