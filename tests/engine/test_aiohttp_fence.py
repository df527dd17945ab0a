"""The contract of engine/_aiohttp.py with aiohttp: every private shape it relies on.

If one of these fails after an aiohttp upgrade, read engine/_aiohttp.py's docstring, compare the
changed code with what the fence does, and update the fence (and its pinned hash) or the pin.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections import deque
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp._websocket.reader import WebSocketDataQueue
from aiohttp._websocket.writer import WebSocketWriter

from socketsvc.dependencies import IncompatibleDependency, release, require
from socketsvc.engine import _aiohttp as fence
from socketsvc.engine.direct import DirectQueue, direct_queue, websocket_response


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_the_installed_release_is_one_the_fence_was_written_for() -> None:
    assert (3, 14) <= release(aiohttp.__version__) < (3, 15)
    assert aiohttp.__version__ == fence.VERSION


def test_an_unsupported_release_stops_with_what_to_install() -> None:
    with pytest.raises(IncompatibleDependency, match=r"aiohttp>=3\.15,<3\.16 .* is installed"):
        require("aiohttp", (3, 15), (3, 16))


def test_the_copied_post_start_is_the_installed_one() -> None:
    """The copy in QueueSwappingResponse mirrors this release's method line for line."""
    digest = fence.source_hash(web.WebSocketResponse._post_start)
    assert digest in fence.POST_START, (
        f"aiohttp {aiohttp.__version__} changed WebSocketResponse._post_start ({digest})"
    )
    assert fence.POST_START_COPIED
    assert parameters(fence.QueueSwappingResponse._post_start) == parameters(
        web.WebSocketResponse._post_start
    )


async def test_the_queue_shapes_it_overrides_and_reads() -> None:
    assert parameters(WebSocketDataQueue.feed_data) == ["self", "data", "size"]
    queue = DirectQueue(_Protocol(), 2**16, loop=asyncio.get_running_loop())
    assert isinstance(queue.queued, deque)
    assert not queue.queued
    WebSocketDataQueue.feed_data(queue, "first", 5)
    assert list(queue.queued) == [("first", 5)]
    assert await queue.read() == "first"  # aiohttp's reader takes from that very deque
    assert not queue.queued


async def test_a_live_websocket_has_the_transport_and_parser_the_fence_reaches(
    aiohttp_client: Any,
) -> None:
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        ws = websocket_response(2**16)
        await ws.prepare(request)
        seen["queue"] = direct_queue(ws)
        seen["transport"] = fence.write_transport(ws)
        seen["request transport"] = request.transport
        seen["had parser"] = hasattr(request.protocol, "_parser")
        fence.drop_http_parser(request)
        seen["own mask source"] = ws._writer.get_random_bits
        fence.share_mask_source(ws)
        seen["mask source"] = ws._writer.get_random_bits
        await ws.send_str("ready")
        msg = await ws.receive()
        await ws.send_str(f"echo {msg.data}")
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    client = await aiohttp_client(app)
    async with client.ws_connect("/ws") as ws:
        assert (await ws.receive_str()) == "ready"
        await ws.send_str("after the parser was dropped")
        assert (await ws.receive_str()) == "echo after the parser was dropped"
    assert isinstance(seen["queue"], DirectQueue)
    assert seen["transport"] is seen["request transport"]
    assert seen["had parser"]
    # A server writer's own mask source is the shared one's twin: the same bound method of
    # aiohttp's one default Random, for 32 bits (and it is used only to mask, which it never
    # does: the frames above went out after the swap).
    own, shared = seen["own mask source"], seen["mask source"]
    assert shared is fence.MASK_SOURCE
    assert (own.func, own.args, own.keywords) == (shared.func, shared.args, shared.keywords)
    source = inspect.getsource(WebSocketWriter)
    assert source.count("get_random_bits") == 2  # set, and called only to mask:
    assert re.search(r"if use_mask:\s+mask = PACK_RANDBITS\(self\.get_random_bits\(\)\)", source)


async def test_a_refusal_closes_the_connection_without_reading_the_rest_of_the_body(
    aiohttp_server: Any,
) -> None:
    """answer_and_close: the answer arrives, then the connection ends, though the client is
    still sending the body and keeps its end open."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.Response(status=408)
        await fence.answer_and_close(request, response)
        return response

    app = web.Application()
    app.router.add_post("/", handler)
    server = await aiohttp_server(app, lingering_time=30.0)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        async with asyncio.timeout(5):
            assert (await reader.readline()).startswith(b"HTTP/1.1 408")
            while await reader.read(1024):  # EOF: the server closed, long before 30 s
                pass
    finally:
        writer.close()


class _Protocol:
    _reading_paused = False
