"""The long-polling transport's paths beside the main one: a POST of exactly ``max_payload``,
a POST that overlaps one still being handled, a websocket message of exactly the limit.

Real server, raw HTTP requests (``aiohttp``), the way a buggy or hostile client sends them."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
import pytest

from socketsvc.app.factory import SIO
from tests.conftest import TEST_NAMESPACES, StartServer, eventually
from tests.sample_handlers import GATES


def url_of(srv: Any, **query: str) -> str:
    q = "&".join(f"{k}={v}" for k, v in {"EIO": "4", **query}.items())
    return str(srv.make_url("/socket.io/")) + "?" + q


async def open_polling(http: aiohttp.ClientSession, srv: Any) -> str:
    """A new polling session; its sid."""
    async with http.get(url_of(srv, transport="polling")) as r:
        assert r.status == 200
        sid: str = json.loads((await r.text())[1:])["sid"]
        return sid


async def post(http: aiohttp.ClientSession, url: str, body: str | bytes) -> tuple[int, str]:
    async with http.post(url, data=body) as r:
        return r.status, await r.text()


async def test_a_post_overlapping_one_still_being_handled_is_refused(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    """One POST at a time per session covers reading the body and handling its packets: a
    second POST while the first one's CONNECT is still being handled is answered 400 and the
    session closes (Node: "data request overlap from client"), instead of running beside it.
    The first one finishes; nothing of the session is left behind."""
    namespaces = {**TEST_NAMESPACES, "/gated": "tests.sample_handlers:GatedConnectNamespace"}
    srv = await start_server(namespaces=namespaces)
    sio = srv.app[SIO]
    entered, opened = asyncio.Event(), asyncio.Event()
    GATES["overlap"] = (entered, opened)
    try:
        async with aiohttp.ClientSession() as http:
            sid = await open_polling(http, srv)
            url = url_of(srv, transport="polling", sid=sid)
            first = asyncio.ensure_future(post(http, url, '40/gated,{"gate":"overlap"}'))
            await asyncio.wait_for(entered.wait(), 5)  # its body is read, its CONNECT handled
            assert (await post(http, url, "40/test,"))[0] == 400
            opened.set()
            assert await asyncio.wait_for(first, 5) == (200, "ok")
        await eventually(lambda: not sio.eio.sockets and not sio.environ)
        await eventually(lambda: not sio.manager.rooms.get("/gated") and len(sio.tasks) == 0)
        assert sio.security.state_size() == 0 and sio.reader.state_size() == 0
    finally:
        del GATES["overlap"]
    overlaps = [r for r in caplog.records if "overlapping POST" in r.getMessage()]
    assert len(overlaps) == 1
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize("sized", [True, False], ids=["content-length", "chunked"])
async def test_a_post_of_exactly_max_payload_is_served_one_byte_more_is_413(
    start_server: StartServer, sized: bool
) -> None:
    """The limit is inclusive, whether the body's size is announced (Content-Length) or not
    (chunked, read up to the limit): exactly ``max_payload`` bytes are handled, one more byte
    is 413 and closes the session."""
    limit = 4096
    srv = await start_server(max_payload=limit)

    def body(text: str) -> Any:
        if sized:
            return text

        async def chunks() -> Any:
            data = text.encode()
            for start in range(0, len(data), 1024):
                yield data[start : start + 1024]

        return chunks()

    async with aiohttp.ClientSession() as http:
        sid = await open_polling(http, srv)
        url = url_of(srv, transport="polling", sid=sid)
        assert await post(http, url, "40/test,") == (200, "ok")
        async with http.get(url) as r:
            assert (await r.text()).startswith("40/test,")
        head, tail = '42/test,1["echo","', '"]'
        text = "é" * ((limit - len(head) - len(tail)) // 2)  # two bytes each: bytes, not chars
        exact = head + text + tail
        assert len(exact.encode()) == limit
        async with http.post(url, data=body(exact)) as r:
            assert r.request_info.headers.get("Transfer-Encoding") == (None if sized else "chunked")
            assert (r.status, await r.text()) == (200, "ok")
        async with http.get(url) as r:
            assert await r.text() == f'43/test,1["{text}"]'
        async with http.post(url, data=body(head + text + "x" + tail)) as r:
            assert r.status == 413
        async with http.get(url) as r:
            assert r.status == 400  # the session was closed
    await eventually(lambda: not srv.app[SIO].eio.sockets)


async def test_a_websocket_message_of_exactly_max_payload_is_served(
    start_server: StartServer,
) -> None:
    limit = 4096
    srv = await start_server(max_payload=limit)
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url_of(srv, transport="websocket"))
        await ws.receive()  # OPEN
        await ws.send_str("40/test,")
        assert (await ws.receive_str()).startswith("40/test,")
        head, tail = '42/test,1["echo","', '"]'
        text = "x" * (limit - len(head) - len(tail))
        await ws.send_str(head + text + tail)
        assert await asyncio.wait_for(ws.receive_str(), 5) == f'43/test,1["{text}"]'
        await ws.send_str(head + text + "x" + tail)
        closing = await asyncio.wait_for(ws.receive(), 5)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1009
        await ws.close()
