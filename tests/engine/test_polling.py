"""The long-polling transport's paths beside the main one: a POST of exactly ``max_payload``,
a POST that overlaps one still being handled, a websocket message of exactly the limit.

Real server, raw HTTP requests (``aiohttp``), the way a buggy or hostile client sends them."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from socketsvc.app.factory import SIO
from socketsvc.engine import EngineServer
from socketsvc.engine.policy import EnginePolicy
from socketsvc.security.limits import MemoryConnectionLimiter
from tests.app.test_metrics import scrape
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
    overlaps = [r.getMessage() for r in caplog.records if "overlapping POST" in r.getMessage()]
    assert overlaps == [f"{sid}: overlapping POST, closing the session"]
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


async def test_bytes_the_socket_could_not_send_count_as_backlog(
    start_server: StartServer,
) -> None:
    """A websocket client that stops reading leaves bytes in the server's socket buffer before
    anything queues in the engine: they count towards the backlog, so its volatile messages are
    dropped although the engine has queued nothing for it."""
    limit = 65_536
    srv = await start_server(max_payload=16_384, max_buffer_bytes=limit, rate_limit_events=0)
    sio = srv.app[SIO]
    connector = aiohttp.TCPConnector(socket_factory=small_receive_buffer)
    async with aiohttp.ClientSession(connector=connector) as http:
        ws = await http.ws_connect(url_of(srv, transport="websocket"), autoping=False)
        sid = json.loads((await ws.receive_str())[1:])["sid"]
        slow = sio.eio.sockets[sid]
        frame = "x" * 1000
        for _ in range(20_000):  # at most 20 MB; the kernel's buffers fill long before
            if slow.backlog() - slow.buffered_bytes > limit // 4:
                break
            sio.eio.push(sid, [frame])
            await asyncio.sleep(0)  # the write is tried at the end of the turn
        assert slow.buffered_bytes < limit // 4 < slow.backlog() < limit
        before = (slow.backlog(), slow.buffered_bytes)
        sio.eio.push(sid, [frame], volatile=True)
        await asyncio.sleep(0)
        assert (slow.backlog(), slow.buffered_bytes) == before  # dropped
        sio.eio.push(sid, [frame])  # not volatile: sent
        await asyncio.sleep(0)
        assert slow.backlog() > before[0]
        await ws.close()


def small_receive_buffer(addr_info: Any) -> socket.socket:
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=type_, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


async def test_the_backlog_bounds_are_inclusive(start_server: StartServer) -> None:
    """A quarter of ``max_buffer_bytes`` queued still takes volatile messages, one byte more
    does not; exactly ``max_buffer_bytes`` queued keeps the client, one byte more cuts it."""
    limit = 65_536
    srv = await start_server(max_payload=16_384, max_buffer_bytes=limit)
    sio = srv.app[SIO]
    async with aiohttp.ClientSession() as http:
        sid = await open_polling(http, srv)  # and never polls again
        slow = sio.eio.sockets[sid]
        assert slow.backlog() == 0
        sio.eio.push(sid, ["x" * (limit // 4 - 1)])
        sio.eio.push(sid, ["v"], volatile=True)  # the backlog reaches a quarter: taken
        assert slow.backlog() == limit // 4
        sio.eio.push(sid, ["v"], volatile=True)  # taken: not over a quarter before it
        assert slow.backlog() == limit // 4 + 1
        sio.eio.push(sid, ["v"], volatile=True)  # over a quarter now: dropped
        assert slow.backlog() == limit // 4 + 1
        sio.eio.push(sid, ["x" * (limit - slow.backlog())])
        assert slow.backlog() == limit and not slow.closing
        sio.eio.push(sid, ["x"])
        await eventually(lambda: sid not in sio.eio.sockets)
        assert slow.backlog() == 0


async def test_nothing_is_queued_for_a_session_once_it_is_closing(
    start_server: StartServer,
) -> None:
    """What the application sends while a session closes (here from its disconnect handler)
    is dropped, as Node's sendPacket does: the last poll gets the CLOSE and nothing after it."""
    namespaces = {**TEST_NAMESPACES, "/farewell": "tests.sample_handlers:FarewellNamespace"}
    srv = await start_server(namespaces=namespaces)
    sio = srv.app[SIO]
    async with aiohttp.ClientSession() as http:
        sid = await open_polling(http, srv)
        url = url_of(srv, transport="polling", sid=sid)
        assert await post(http, url, "40/farewell,") == (200, "ok")
        async with http.get(url) as r:
            assert (await r.text()).startswith("40/farewell,")
        await sio.eio.disconnect(sid)
        async with http.get(url) as r:
            assert await r.text() == "1"


async def test_a_poll_takes_at_most_16_packets_and_the_backlog_falls_by_them(
    start_server: StartServer,
) -> None:
    """python-engineio clients refuse a payload of more than 16 packets: a longer backlog goes
    out in several polls, and what a poll took no longer counts as backlog."""
    srv = await start_server(max_payload=16_384, max_buffer_bytes=65_536)
    sio = srv.app[SIO]
    async with aiohttp.ClientSession() as http:
        sid = await open_polling(http, srv)
        url = url_of(srv, transport="polling", sid=sid)
        client = sio.eio.sockets[sid]
        for n in range(20):
            sio.eio.push(sid, [f"m{n:02}" + "x" * 997])  # 1000 bytes each
        assert client.backlog() == 20_000
        async with http.get(url) as r:
            first = (await r.text()).split("\x1e")
        assert [p[:4] for p in first] == [f"4m{n:02}" for n in range(16)]
        assert client.backlog() == 4_000
        async with http.get(url) as r:
            rest = (await r.text()).split("\x1e")
        assert [p[:4] for p in rest] == [f"4m{n:02}" for n in range(16, 20)]
        assert client.backlog() == 0


async def test_a_poll_to_a_session_still_closing_is_refused_at_once(
    start_server: StartServer,
) -> None:
    """While a session closes (its disconnect handlers still running), a new poll has nothing
    to wait for: it is answered 400 at once, not parked where nothing will ever wake it."""
    gated = "tests.sample_handlers:GatedDisconnectNamespace"
    srv = await start_server(namespaces={**TEST_NAMESPACES, "/leaving": gated})
    entered, opened = asyncio.Event(), asyncio.Event()
    GATES["leaving"] = (entered, opened)
    try:
        async with aiohttp.ClientSession() as http:
            sid = await open_polling(http, srv)
            url = url_of(srv, transport="polling", sid=sid)
            assert await post(http, url, '40/leaving,{"gate":"leaving"}') == (200, "ok")
            async with http.get(url) as r:
                assert (await r.text()).startswith("40/leaving,")
            closing = asyncio.ensure_future(post(http, url, "1"))  # the client closes
            await asyncio.wait_for(entered.wait(), 5)  # its disconnect handler runs
            async with asyncio.timeout(5), http.get(url) as r:
                assert r.status == 400
            upgrade = await http.ws_connect(url_of(srv, transport="websocket", sid=sid))
            assert (await asyncio.wait_for(upgrade.receive(), 5)).type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
            )  # nor is an upgrade: the websocket is closed right after its handshake
            opened.set()
            assert await asyncio.wait_for(closing, 5) == (200, "ok")
        await eventually(lambda: sid not in srv.app[SIO].eio.sockets)
    finally:
        del GATES["leaving"]


async def test_a_second_concurrent_poll_closes_the_session_as_a_transport_error(
    start_server: StartServer,
) -> None:
    """Node's rule (onPollRequest "overlap from client"): the pending poll gets CLOSE, the
    duplicate 400, and the session ends for a transport error, not as if the server chose to."""
    srv = await start_server()
    first_out = asyncio.Event()

    async def sent(session: Any, context: Any, params: Any) -> None:  # aiohttp trace hook
        if params.method == "GET" and "sid=" in str(params.url):
            first_out.set()

    tracing = aiohttp.TraceConfig()
    tracing.on_request_headers_sent.append(sent)
    async with aiohttp.ClientSession(trace_configs=[tracing]) as http:
        sid = await open_polling(http, srv)
        url = url_of(srv, transport="polling", sid=sid)
        pending = asyncio.ensure_future(http.get(url))
        await asyncio.wait_for(first_out.wait(), 5)
        async with http.get(url) as duplicate:
            assert duplicate.status == 400
        first = await asyncio.wait_for(pending, 5)
        assert (first.status, await first.text()) == (200, "1")
        first.release()
        closed = await scrape(srv.make_url("/metrics"))
    assert closed.value("socketsvc_transports_closed_total", reason="transport error") == 1
    assert closed.total("socketsvc_transports_closed_total") == 1


async def test_a_post_is_counted_by_its_packets_and_bytes_and_a_bad_one_logged(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The engine's totals (``/metrics``) count every packet of a POST and its bytes; an
    invalid packet in a POST closes the session with one line naming it and the session."""
    srv = await start_server()
    traffic = srv.app[SIO].eio.traffic
    async with aiohttp.ClientSession() as http:
        sid = await open_polling(http, srv)
        url = url_of(srv, transport="polling", sid=sid)
        before = (traffic.packets_in, traffic.bytes_in)
        body = '40/test,\x1e42/test,["echo","é"]\x1e6'
        assert await post(http, url, body) == (200, "ok")
        assert (traffic.packets_in, traffic.bytes_in) == (
            before[0] + 3,
            before[1] + len(body.encode()),
        )
        caplog.set_level(logging.INFO, logger="socketsvc.engine")
        assert (await post(http, url, "2"))[0] == 400
    [line] = [r for r in caplog.records if "invalid payload" in r.getMessage()]
    assert line.getMessage() == f"{sid}: invalid payload (invalid heartbeat direction), closing"
    assert line.eio_sid == sid  # type: ignore[attr-defined]


async def test_engine_server_on_its_own_hands_messages_to_its_message_handler(
    aiohttp_server: Any,
) -> None:
    """python-engineio's API: without an application message handler, messages go to the
    handler registered for "message", with the session's sid and the data."""
    eio = EngineServer()
    got: list[tuple[str, Any]] = []
    arrived = asyncio.Event()

    @eio.on("message")
    async def message(sid: str, data: Any) -> None:
        got.append((sid, data))
        arrived.set()

    app = web.Application()
    eio.attach(app, "socket.io")
    srv = await aiohttp_server(app)
    async with aiohttp.ClientSession() as http:
        sid = await open_polling(http, srv)
        assert await post(http, url_of(srv, transport="polling", sid=sid), "4hello") == (200, "ok")
        await asyncio.wait_for(arrived.wait(), 5)
    assert got == [(sid, "hello")]
    await eio.shutdown()


async def test_engine_disconnect_push_many_and_the_429_as_the_server_api_promises(
    start_server: StartServer,
) -> None:
    """``disconnect(sid)`` closes that session only, an unknown sid is no error, and
    ``disconnect()`` closes all; ``push_many`` queues each frame for every live session given
    (closed and unknown ones skipped) and counts what it queued; a handshake over the
    per-address limit gets a JSON 429 and is counted by reason."""
    srv = await start_server(max_connections_per_ip=3, max_payload=16_384, max_buffer_bytes=65_536)
    eio = srv.app[SIO].eio
    async with aiohttp.ClientSession() as http:
        sids = [await open_polling(http, srv) for _ in range(3)]
        async with http.get(url_of(srv, transport="polling")) as r:
            assert r.status == 429
            assert r.headers["Content-Type"] == "application/json"
            assert await r.json() == {"code": 4, "message": "Too many connections"}

        await eio.disconnect(sids[0])
        await eio.disconnect("no-such-sid")
        assert not eio.sockets[sids[1]].closed and not eio.sockets[sids[2]].closed
        eio.push(sids[2], ["x" * 16_385])  # over a quarter of max_buffer_bytes: backlogged
        assert eio.sockets[sids[2]].backlogged()
        traffic = eio.traffic
        before = (traffic.messages_out, traffic.bytes_out)
        eio.push_many([sids[0], sids[1], "no-such-sid", sids[2]], ["a1", "bb2"])  # not volatile
        assert (traffic.messages_out, traffic.bytes_out) == (before[0] + 4, before[1] + 10)
        async with http.get(url_of(srv, transport="polling", sid=sids[1])) as r:
            assert await r.text() == "4a1\x1e4bb2"
        async with http.get(url_of(srv, transport="polling", sid=sids[2])) as r:
            assert (await r.text()).split("\x1e")[1:] == ["4a1", "4bb2"]
        await eio.disconnect()
        assert all(s.closed for s in eio.sockets.values())
        scraped = await scrape(srv.make_url("/metrics"))
    refused = scraped.value("socketsvc_handshakes_refused_total", reason="too_many_connections")
    assert refused == 1


async def test_a_refusal_from_engine_servers_connect_handler_carries_its_message(
    aiohttp_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    eio = EngineServer()
    caplog.set_level(logging.WARNING, logger=eio.logger.name)

    @eio.on("connect")
    async def refuse(sid: str, environ: Any) -> str:
        return "closed for maintenance"

    app = web.Application()
    eio.attach(app, "socket.io")
    srv = await aiohttp_server(app)
    async with aiohttp.ClientSession() as http, http.get(url_of(srv, transport="polling")) as r:
        assert r.status == 401
        assert await r.json() == "closed for maintenance"
    assert "Application rejected connection" in caplog.messages
    assert not eio.sockets


async def test_the_open_packet_gives_the_settings_in_milliseconds(
    start_server: StartServer,
) -> None:
    srv = await start_server(ping_interval=25, ping_timeout=20, max_payload=65_536)
    async with aiohttp.ClientSession() as http, http.get(url_of(srv, transport="polling")) as r:
        opened = json.loads((await r.text())[1:])
    assert (opened["pingInterval"], opened["pingTimeout"], opened["maxPayload"]) == (
        25_000,
        20_000,
        65_536,
    )
    assert opened["upgrades"] == ["websocket"]
