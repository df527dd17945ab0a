"""Why a session ended, as a handler is told (and metrics and recovery read it): each way a
connection can end gives its own reason, and the log line of each cause carries its fields.

Real server, raw websocket and long-polling clients."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
import pytest

from socketsvc.app.factory import SIO
from tests.conftest import TEST_NAMESPACES, StartServer, eventually
from tests.engine.test_polling import small_receive_buffer
from tests.sample_handlers import GATES, REASONS

# The raw clients here never answer a PING: the default heartbeat (25 s + 20 s) leaves each
# case all the time it needs on a loaded machine; FAST is for the cases about the heartbeat.
SETTINGS: dict[str, Any] = {
    "namespaces": {**TEST_NAMESPACES, "/reasons": "tests.sample_handlers:ReasonsNamespace"},
    "max_payload": 16_384,
    "max_buffer_bytes": 65_536,
    "rate_limit_events": 0,
}
FAST = {**SETTINGS, "ping_interval": 0.2, "ping_timeout": 0.3}


def url_of(srv: Any, **query: str) -> str:
    q = "&".join(f"{k}={v}" for k, v in {"EIO": "4", **query}.items())
    return str(srv.make_url("/socket.io/")) + "?" + q


async def joined_websocket(http: aiohttp.ClientSession, srv: Any, **options: Any) -> Any:
    """A raw websocket client in /reasons: (ws, eio sid, namespace sid)."""
    ws = await http.ws_connect(url_of(srv, transport="websocket"), **options)
    eio_sid = json.loads((await ws.receive_str())[1:])["sid"]
    await ws.send_str("40/reasons,")
    reply = await ws.receive_str()
    return ws, eio_sid, json.loads(reply[len("40/reasons,") :])["sid"]


async def reason_for(sid: str) -> str:
    await eventually(lambda: sid in REASONS)
    return REASONS.pop(sid)


async def test_each_way_a_session_ends_has_its_reason(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    srv = await start_server(**SETTINGS)
    caplog.set_level(logging.INFO, logger="socketsvc.engine")
    sio = srv.app[SIO]
    async with aiohttp.ClientSession() as http:
        ws, _, sid = await joined_websocket(http, srv)
        await ws.send_str("1")  # the client closes
        assert await reason_for(sid) == "client disconnect"

        ws, eio_sid, sid = await joined_websocket(http, srv)
        await sio.eio.disconnect(eio_sid)  # the server closes
        assert await reason_for(sid) == "server disconnect"

        ws, eio_sid, sid = await joined_websocket(http, srv)
        await ws.send_str("2")  # a PING from the client: a protocol error
        assert await reason_for(sid) == "transport error"
        assert f"{eio_sid}: invalid heartbeat direction, closing" in caplog.messages

        fast = await start_server(**FAST)
        caplog.set_level(logging.INFO, logger="socketsvc.engine")  # (a new app resets it)
        ws, eio_sid, sid = await joined_websocket(http, fast, autoping=False)
        assert await ws.receive_str() == "2"  # and no PONG follows
        assert await reason_for(sid) == "ping timeout"
        [timeout] = [r for r in caplog.records if "pong timeout" in r.getMessage()]
        assert timeout.getMessage() == f"{eio_sid}: pong timeout, closing session"
        assert timeout.eio_sid == eio_sid  # type: ignore[attr-defined]

        ws, _, sid = await joined_websocket(http, srv)
        await ws.close()  # the connection goes, no Engine.IO CLOSE before it
        assert await reason_for(sid) == "transport close"

        base = url_of(srv, transport="polling")
        async with http.get(base) as r:
            eio_sid = json.loads((await r.text())[1:])["sid"]
        url = f"{base}&sid={eio_sid}"
        async with http.post(url, data="40/reasons,") as r:
            assert r.status == 200
        async with http.get(url) as r:
            sid = json.loads((await r.text())[len("40/reasons,") :])["sid"]
        async with http.post(url, data="1") as r:  # the client closes, no poll pending
            assert r.status == 200
        assert await reason_for(sid) == "client disconnect"
        assert eio_sid not in sio.eio.sockets  # forgotten at once, nothing left to deliver


async def test_a_slow_websocket_consumer_is_cut_off_and_told_why(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Past max_buffer_bytes the session closes for a transport error, the log line names the
    session and the client, and the connection itself is cut: the client sees it end."""
    srv = await start_server(**SETTINGS)
    caplog.set_level(logging.INFO, logger="socketsvc.engine")
    sio = srv.app[SIO]
    connector = aiohttp.TCPConnector(socket_factory=small_receive_buffer)
    async with aiohttp.ClientSession(connector=connector) as http:
        ws, eio_sid, sid = await joined_websocket(http, srv, autoping=False)
        for _ in range(10_000):  # at most 10 MB; the limit trips long before
            if eio_sid not in sio.eio.sockets:
                break
            sio.eio.push(eio_sid, ["x" * 1000])
            await asyncio.sleep(0)
        assert await reason_for(sid) == "transport error"
        [cut] = [r for r in caplog.records if "slow consumer" in r.getMessage()]
        assert cut.getMessage() == (
            f"{eio_sid}: outgoing backlog over max_buffer_bytes (65536), closing slow consumer"
        )
        assert (cut.eio_sid, cut.client) == (eio_sid, "127.0.0.1")  # type: ignore[attr-defined]
        async with asyncio.timeout(5):  # what it had not read is gone with the connection
            while (await ws.receive()).type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                pass


async def test_a_server_closed_polling_session_nobody_polls_is_forgotten_after_a_heartbeat(
    start_server: StartServer,
) -> None:
    srv = await start_server(**FAST)
    sio = srv.app[SIO]
    async with aiohttp.ClientSession() as http, http.get(url_of(srv, transport="polling")) as r:
        eio_sid = json.loads((await r.text())[1:])["sid"]
    await sio.eio.disconnect(eio_sid)  # its CLOSE waits for a poll that never comes
    assert sio.eio.sockets[eio_sid].lingering
    await eventually(lambda: eio_sid not in sio.eio.sockets, timeout=3)  # after 0.2 + 0.3 s


async def test_a_broadcast_while_one_recipient_is_closing_reaches_the_others(
    start_server: StartServer,
) -> None:
    """A session whose disconnect handler still runs is closing, not closed: a (volatile)
    broadcast that includes it skips it and reaches everyone else."""
    gated = "tests.sample_handlers:GatedDisconnectNamespace"
    srv = await start_server(**{**SETTINGS, "namespaces": {**TEST_NAMESPACES, "/gated": gated}})
    sio = srv.app[SIO]
    entered, opened = asyncio.Event(), asyncio.Event()
    GATES["closing"] = (entered, opened)
    try:
        async with aiohttp.ClientSession() as http:
            leaving = await http.ws_connect(url_of(srv, transport="websocket"))
            leaving_sid = json.loads((await leaving.receive_str())[1:])["sid"]
            await leaving.send_str('40/gated,{"gate":"closing"}')
            await leaving.receive_str()
            staying = await http.ws_connect(url_of(srv, transport="websocket"))
            staying_sid = json.loads((await staying.receive_str())[1:])["sid"]
            await leaving.send_str("1")  # closes; its disconnect handler waits at the gate
            await asyncio.wait_for(entered.wait(), 5)
            assert sio.eio.sockets[leaving_sid].closing
            for volatile in (True, False):
                sio.eio.push_many([leaving_sid, staying_sid], ["4news"], volatile=volatile)
                assert await asyncio.wait_for(staying.receive_str(), 5) == "44news"
            opened.set()
            await staying.close()
    finally:
        del GATES["closing"]


async def test_a_session_closed_while_a_poll_waits_is_forgotten_once_the_poll_has_its_answer(
    start_server: StartServer,
) -> None:
    """The pending poll is answered at once (NOOP for the client's own CLOSE), and nothing of
    the session is left in the table afterwards."""
    srv = await start_server(**SETTINGS)
    sio = srv.app[SIO]
    poll_sent = asyncio.Event()

    async def sent(session: Any, context: Any, params: Any) -> None:  # aiohttp trace hook
        if params.method == "GET" and "sid=" in str(params.url):
            poll_sent.set()

    tracing = aiohttp.TraceConfig()
    tracing.on_request_headers_sent.append(sent)
    async with aiohttp.ClientSession(trace_configs=[tracing]) as http:
        base = url_of(srv, transport="polling")
        async with http.get(base) as r:
            eio_sid = json.loads((await r.text())[1:])["sid"]
        url = f"{base}&sid={eio_sid}"
        poll = asyncio.ensure_future(http.get(url))
        await asyncio.wait_for(poll_sent.wait(), 5)
        async with http.post(url, data="1") as r:
            assert r.status == 200
        answered = await asyncio.wait_for(poll, 5)
        assert (answered.status, await answered.text()) == (200, "6")
        answered.release()
    await eventually(lambda: eio_sid not in sio.eio.sockets)


async def test_a_server_close_delivers_what_was_queued_before_the_close_frame(
    start_server: StartServer,
) -> None:
    """Closing a websocket session from the server (not for a fault) sends what the engine
    still holds for it first: a client that reads on gets every message, then the close."""
    srv = await start_server(**{**SETTINGS, "max_buffer_bytes": 16_000_000})
    sio = srv.app[SIO]
    connector = aiohttp.TCPConnector(socket_factory=small_receive_buffer)
    async with aiohttp.ClientSession(connector=connector) as http:
        ws = await http.ws_connect(url_of(srv, transport="websocket"))
        eio_sid = json.loads((await ws.receive_str())[1:])["sid"]
        held = sio.eio.sockets[eio_sid]
        sent = 0
        for _ in range(20_000):  # until the engine holds messages (the socket is full)
            sio.eio.push(eio_sid, [f"{sent:08}" + "x" * 992])
            sent += 1
            await asyncio.sleep(0)
            if held.buffered_bytes > 10_000:
                break
        assert held.buffered_bytes > 0
        await sio.eio.disconnect(eio_sid)
        numbers = []
        async with asyncio.timeout(10):
            while (msg := await ws.receive()).type == aiohttp.WSMsgType.TEXT:
                numbers.append(int(msg.data[1:9]))
        assert numbers == list(range(sent))  # every one, in order, then the close
