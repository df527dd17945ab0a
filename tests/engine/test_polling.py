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
from aiohttp import web

from socketsvc.app.factory import SIO
from socketsvc.engine import EngineServer
from socketsvc.engine.policy import EnginePolicy
from socketsvc.security.limits import MemoryConnectionLimiter
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


async def test_a_session_the_server_closed_lingers_to_deliver_its_close_and_nothing_else(
    start_server: StartServer,
) -> None:
    """A polling session closed by the server keeps what was queued and its CLOSE for the
    next poll, and serves nothing else meanwhile: a POST or a websocket upgrade for it is 400
    "Session ID unknown", then the poll gets the rest and CLOSE, then the sid is gone."""
    srv = await start_server()
    sio = srv.app[SIO]
    async with aiohttp.ClientSession() as http:
        sid = await open_polling(http, srv)
        url = url_of(srv, transport="polling", sid=sid)
        assert await post(http, url, "40/test,") == (200, "ok")
        async with http.get(url) as r:
            assert (await r.text()).startswith("40/test,")
        await sio.eio.disconnect(sid)  # server-initiated: the session lingers for its CLOSE
        assert sio.eio.sockets[sid].lingering
        status, text = await post(http, url, '42/test,1["echo","late"]')
        assert (status, json.loads(text)) == (400, {"code": 1, "message": "Session ID unknown"})
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url_of(srv, transport="websocket", sid=sid))
        assert refused.value.status == 400
        async with http.get(url) as r:
            assert r.status == 200
            assert await r.text() == "1"  # CLOSE (nothing else was queued)
        async with http.get(url) as r:
            assert r.status == 400
    assert sid not in sio.eio.sockets


async def test_a_handshake_the_application_refuses_gives_its_address_back(
    aiohttp_server: Any,
) -> None:
    """EngineServer on its own (python-engineio's API): a connect handler that returns False
    refuses the handshake (401), and the address's place in the per-address count is given
    back each time, so the next handshake is not refused as one too many (429)."""
    limiter = MemoryConnectionLimiter(1)
    eio = EngineServer(policy=EnginePolicy(connections=limiter))

    @eio.on("connect")
    async def refuse(sid: str, environ: Any) -> bool:
        return False

    app = web.Application()
    eio.attach(app, "socket.io")
    srv = await aiohttp_server(app)
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            async with http.get(url_of(srv, transport="polling")) as r:
                assert r.status == 401
    assert len(limiter) == 0 and not eio.sockets
