"""Authorization (can_join), origin checks and the per-connection / per-address limits."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest
import socketio

from socketsvc.app.factory import SIO
from tests.conftest import CLIENT_SERIALIZERS, Connect, Inbox, StartServer, eventually
from tests.security.conftest import AUTH_SETTINGS, RunNode, token


@pytest.fixture
async def server(start_server: StartServer, serializer: str) -> Any:
    return await start_server(serializer="auto", **AUTH_SETTINGS, max_rooms_per_connection=3)


async def call(client: socketio.AsyncClient, event: str, data: Any, ns: str = "/chat") -> Any:
    return await client.call(event, data, namespace=ns, timeout=5)


# -- authorization ---------------------------------------------------------------------
async def test_private_rooms_need_the_rooms_claim(connect: Connect) -> None:
    member = await connect(["/chat"], auth={"token": token(rooms=["private:ops"])})
    outsider = await connect(["/chat"], auth={"token": token(sub="u-2", name="Eve")})
    assert (await call(member, "join", {"room": "private:ops"}))["members"] == ["Alice"]
    reply = await call(outsider, "join", {"room": "private:ops"})
    assert reply["error"]["code"] == "forbidden"
    assert (await call(outsider, "join", {"room": "public"}))["members"] == ["Eve"]


@pytest.mark.parametrize("claim", ["private:ops-team private:x", ["private:ops-team", "private:x"]])
async def test_rooms_claim_lists_whole_room_names(connect: Connect, claim: Any) -> None:
    """The space-separated string form and the list form grant exactly the rooms listed:
    ``private:ops-team`` is not ``private:ops``."""
    member = await connect(["/chat"], auth={"token": token(rooms=claim)})
    assert (await call(member, "join", {"room": "private:ops-team"}))["members"] == ["Alice"]
    assert (await call(member, "join", {"room": "private:x"}))["members"] == ["Alice"]
    for room in ("private:ops", "private:", "private:ops-team private:x", "private:o"):
        reply = await call(member, "join", {"room": room})
        assert reply["error"] == {"code": "forbidden", "message": f"you may not join '{room}'"}


async def test_nobody_joins_another_clients_sid_room(connect: Connect) -> None:
    alice = await connect(["/chat"], auth={"token": token()})
    eve = await connect(["/chat"], auth={"token": token(sub="u-2", name="Eve")})
    alice_sid = alice.get_sid("/chat")
    reply = await call(eve, "join", {"room": alice_sid})
    assert reply["error"]["code"] == "forbidden"


async def test_rooms_per_connection_limit(connect: Connect) -> None:
    client = await connect(["/chat"], auth={"token": token()})
    for room in ("a", "b", "c"):
        assert "members" in await call(client, "join", {"room": room})
    assert "members" in await call(client, "join", {"room": "a"})  # re-join is not a new room
    assert (await call(client, "join", {"room": "d"}))["error"]["code"] == "limit_exceeded"


async def test_namespaces_per_connection_limit(start_server: StartServer) -> None:
    srv = await start_server(max_namespaces_per_connection=1)
    client = socketio.AsyncClient()
    refusals: list[Any] = []
    client.on("connect_error", refusals.append, namespace="/test")
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(
                str(srv.make_url("/")), namespaces=["/chat", "/test"], wait_timeout=3
            )
        await eventually(lambda: bool(refusals))
        assert refusals[0]["data"] == {"code": "limit_exceeded"}
    finally:
        await client.disconnect()
        await client.shutdown()


# -- origins ---------------------------------------------------------------------
def eio(srv: Any, **query: str) -> str:
    q = "&".join(f"{k}={v}" for k, v in {"EIO": "4", **query}.items())
    return str(srv.make_url("/socket.io/")) + "?" + q


async def test_cross_site_origin_refused_403_on_handshake_polling_and_websocket(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    srv = await start_server()
    own = f"http://{srv.host}:{srv.port}"
    evil = {"Origin": "https://evil.example"}
    async with aiohttp.ClientSession() as http:
        async with http.get(eio(srv, transport="polling"), headers={"Origin": own}) as r:
            assert r.status == 200
            sid = (await r.text()).split('"sid":"')[1].split('"')[0]
        for _ in range(3):
            async with http.get(eio(srv, transport="polling"), headers=evil) as r:
                assert r.status == 403
                assert await r.json() == {"code": 4, "message": "Forbidden"}
        async with http.get(eio(srv, transport="polling", sid=sid), headers=evil) as r:
            assert r.status == 403
        async with http.post(eio(srv, transport="polling", sid=sid), data="40", headers=evil) as r:
            assert r.status == 403
        for query in ({"transport": "websocket"}, {"transport": "websocket", "sid": sid}):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(eio(srv, **query), headers=evil)
            assert info.value.status == 403
        async with http.get(eio(srv, transport="polling")) as r:  # no Origin: not a browser
            assert r.status == 200
    refused = [r for r in caplog.records if "refused origin" in r.getMessage()]
    assert len(refused) == 1 and "evil.example" in refused[0].getMessage()


async def test_listed_and_wildcard_origins(start_server: StartServer) -> None:
    listed = await start_server(cors_origins=("https://app.example",))
    anyone = await start_server(cors_origins=("*",))
    async with aiohttp.ClientSession() as http:
        for srv, origin, status in (
            (listed, "https://app.example", 200),
            (listed, "https://APP.example/", 200),
            (listed, "https://app.example.evil", 403),
            (listed, "null", 403),
            (anyone, "https://whatever.example", 200),
        ):
            async with http.get(eio(srv, transport="polling"), headers={"Origin": origin}) as r:
                assert r.status == status, (origin, status)


async def test_forwarded_host_believed_only_from_trusted_proxies(start_server: StartServer) -> None:
    headers = {"Origin": "https://public.example", "X-Forwarded-Host": "public.example"}
    headers["X-Forwarded-Proto"] = "https"
    untrusted = await start_server()
    trusted = await start_server(trusted_proxies=("127.0.0.1/32",))
    async with aiohttp.ClientSession() as http:
        async with http.get(eio(untrusted, transport="polling"), headers=headers) as r:
            assert r.status == 403
        async with http.get(eio(trusted, transport="polling"), headers=headers) as r:
            assert r.status == 200


async def test_js_client_from_foreign_origin_cannot_connect(
    start_server: StartServer, run_node: RunNode
) -> None:
    srv = await start_server()
    report = await run_node(
        str(srv.make_url("/")),
        namespace="/test",
        transports=["websocket"],
        extraHeaders={"Origin": "https://evil.example"},
    )
    assert report["event"] == "connect_error"
    ok = await run_node(str(srv.make_url("/")), namespace="/test", transports=["websocket"])
    assert ok["event"] == "connect"


# -- connections per address ---------------------------------------------------------------------
async def test_connections_per_ip_and_trusted_x_forwarded_for(start_server: StartServer) -> None:
    direct = await start_server(max_connections_per_ip=2)
    proxied = await start_server(max_connections_per_ip=2, trusted_proxies=("127.0.0.1",))
    async with aiohttp.ClientSession() as http:

        async def handshake(srv: Any, xff: str | None = None) -> int:
            headers = {"X-Forwarded-For": xff} if xff else {}
            async with http.get(eio(srv, transport="polling"), headers=headers) as r:
                return r.status

        assert [await handshake(direct, f"10.0.0.{i}") for i in range(3)] == [200, 200, 429]
        assert [await handshake(proxied, "10.0.0.1") for _ in range(3)] == [200, 200, 429]
        assert await handshake(proxied, "10.0.0.2") == 200
        # a spoofed left-most hop does not help: the proxy appended the real client
        assert await handshake(proxied, "1.2.3.4, 10.0.0.1") == 429
        sio = direct.app[SIO]
        for s in list(sio.eio.sockets.values()):
            await s.close(wait=False, abort=True)
        assert await handshake(direct) == 200
        assert len(sio.eio.policy.connections) == 1


async def test_every_way_a_session_ends_gives_its_address_back(start_server: StartServer) -> None:
    """With one connection allowed per address, each way of ending the session (the client's
    close, an invalid packet, an oversized POST, a missed heartbeat) frees the place again."""
    srv = await start_server(max_connections_per_ip=1, ping_interval=0.3, ping_timeout=0.2)
    counter = srv.app[SIO].eio.policy.connections
    async with aiohttp.ClientSession() as http:

        async def polling() -> str:
            async with http.get(eio(srv, transport="polling")) as r:
                assert r.status == 200
                sid = (await r.text()).split('"sid":"')[1].split('"')[0]
            async with http.get(eio(srv, transport="polling")) as r:
                assert r.status == 429  # the place is taken while the session lives
            return eio(srv, transport="polling", sid=sid)

        async def websocket() -> aiohttp.ClientWebSocketResponse:
            ws = await http.ws_connect(eio(srv, transport="websocket"))
            await ws.receive(timeout=5)
            async with http.get(eio(srv, transport="polling")) as r:
                assert r.status == 429
            return ws

        ws = await websocket()
        await ws.close()  # the client's close
        await eventually(lambda: len(counter) == 0)
        ws = await websocket()
        await ws.send_str("42{")  # an invalid packet: the server closes
        assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE
        await ws.close()
        await eventually(lambda: len(counter) == 0)
        for ending, status in (("1", 200), ("x", 400), (b"4" * 1_000_001, 413)):
            async with http.post(await polling(), data=ending) as r:
                assert r.status == status
            await eventually(lambda: len(counter) == 0)
        await polling()  # never polled again: the heartbeat closes it
        await eventually(lambda: len(counter) == 0)
        await polling()
    assert len(counter) == 1  # the last one, still open


# -- event rate ---------------------------------------------------------------------
async def test_rate_limit_answers_rate_limited_then_disconnects(
    start_server: StartServer, serializer: str, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    srv = await start_server(rate_limit_events=5, rate_limit_burst=5)
    client = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer], reconnection=False)
    try:
        await client.connect(
            str(srv.make_url("/")), namespaces=["/test"], transports=[transport], wait_timeout=5
        )
        sid, eio_sid = client.get_sid("/test"), client.eio.sid
        replies = await asyncio.gather(
            *(client.call("echo", i, namespace="/test", timeout=5) for i in range(8))
        )
        limited = [r for r in replies if isinstance(r, dict) and "error" in r]
        assert len(limited) == 3 and limited[0]["error"]["code"] == "rate_limited"
        assert limited[0]["error"]["message"] == "too many events, slow down"
        for _ in range(20):  # keep flooding: disconnected once the debt passes another burst
            if not client.connected:
                break
            await client.emit("echo", 0, namespace="/test")
        await eventually(lambda: not client.connected)
        await eventually(lambda: len(srv.app[SIO].security.limits.events) == 0)
        closing = f"closing {eio_sid} (sid={sid}): sustained event rate over the limit"
        assert closing in caplog.messages
    finally:
        await client.disconnect()
        await client.shutdown()


async def test_an_event_in_a_namespace_not_joined_closes_the_connection(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    srv = await start_server(auth="none")
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(eio(srv, transport="websocket"))
        sid = (await ws.receive_str()).split('"sid":"')[1].split('"')[0]
        await ws.send_str("40/test,")
        assert (await ws.receive_str()).startswith("40/test,")
        await ws.send_str('42/test,1["echo","joined"]')
        assert await ws.receive_str() == '43/test,1["joined"]'
        await ws.send_str('42/slow,2["echo","not joined"]')
        closed = await ws.receive()
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert f"closing {sid}: invalid packet: not connected to namespace /slow" in caplog.messages


# -- payload size ---------------------------------------------------------------------
async def test_oversized_messages_close_the_connection(start_server: StartServer) -> None:
    srv = await start_server(max_payload=4096)
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(eio(srv, transport="websocket"))
        await ws.receive()  # open packet
        await ws.send_str("40/test,")
        await ws.receive()
        await ws.send_str('42/test,["echo","' + "x" * 5000 + '"]')
        msg = await asyncio.wait_for(ws.receive(), 5)
        while msg.type == aiohttp.WSMsgType.TEXT:
            msg = await asyncio.wait_for(ws.receive(), 5)
        assert ws.close_code == 1009  # message too big
        await ws.close()
        async with http.get(eio(srv, transport="polling")) as r:
            sid = (await r.text()).split('"sid":"')[1].split('"')[0]
        async with http.post(eio(srv, transport="polling", sid=sid), data="4" * 5000) as r:
            assert r.status == 413
        async with http.get(eio(srv, transport="polling", sid=sid)) as r:
            assert r.status == 400  # the session was closed
    await eventually(lambda: not srv.app[SIO].eio.sockets)


async def test_a_polling_post_body_must_arrive_within_body_timeout(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    """``body_timeout`` reaches the engine: a POST whose body stalls is answered 408 and its
    session closed (the CLI node's own test is in tests/engine/test_http_timeouts.py)."""
    srv = await start_server(body_timeout=0.3)
    async with aiohttp.ClientSession() as http, http.get(eio(srv, transport="polling")) as r:
        sid = (await r.text()).split('"sid":"')[1].split('"')[0]
    reader, writer = await asyncio.open_connection(srv.host, srv.port)
    head = f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
    writer.write(head.encode() + b"Host: x\r\nContent-Length: 20\r\n\r\n4")
    await writer.drain()
    try:
        status = await asyncio.wait_for(reader.readline(), 5)
        assert status.split()[1] == b"408"
    finally:
        writer.close()
    await eventually(lambda: sid not in srv.app[SIO].eio.sockets)
    assert f"{sid}: POST body not in within body_timeout, closing" in caplog.messages


async def test_binary_attachments_are_bounded_together(start_server: StartServer) -> None:
    """Attachments each under ``max_payload`` but over it together: no handler runs, no ack
    comes, the connection is closed. Exactly ``max_payload`` together is served."""
    srv = await start_server(max_payload=4096)
    holders = ",".join(f'{{"_placeholder":true,"num":{i}}}' for i in range(3))
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(eio(srv, transport="websocket"))
        await ws.receive()
        await ws.send_str("40/test,")
        await ws.receive()
        at_limit = [b"\x00" * 1365, b"\x01" * 1365, b"\x02" * 1366]
        await ws.send_str(f'453-/test,1["echo",{holders}]')
        for blob in at_limit:
            await ws.send_bytes(blob)
        assert (await ws.receive(timeout=5)).data == f"463-/test,1[{holders}]"
        assert [(await ws.receive(timeout=5)).data for _ in at_limit] == at_limit
        await ws.send_str(f'453-/test,2["echo",{holders}]')
        for blob in (b"\x00" * 1365, b"\x01" * 1366, b"\x02" * 1366):
            await ws.send_bytes(blob)
        msg = await ws.receive(timeout=5)
        while msg.type == aiohttp.WSMsgType.TEXT and msg.data == "2":  # a PING may come first
            msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.CLOSE, msg  # not an ack, not an event
        await ws.close()
    await eventually(lambda: not srv.app[SIO].eio.sockets)


# -- slow consumers ---------------------------------------------------------------------
async def test_slow_polling_consumer_drops_volatile_then_is_closed(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    srv = await start_server(
        max_payload=16_384, max_buffer_bytes=65_536, rate_limit_events=0, auth="none"
    )
    sio = srv.app[SIO]
    writer = socketio.AsyncClient()
    await writer.connect(str(srv.make_url("/")), namespaces=["/chat"], wait_timeout=5)
    try:
        await writer.call("join", {"room": "r", "name": "w"}, namespace="/chat")
        async with aiohttp.ClientSession() as http:
            # a raw polling client that joins the room and then never polls again
            async with http.get(eio(srv, transport="polling")) as r:
                sid = (await r.text()).split('"sid":"')[1].split('"')[0]
            url = eio(srv, transport="polling", sid=sid)
            async with http.post(url, data="40/chat,") as r:
                assert r.status == 200
            async with http.get(url) as r:
                assert (await r.text()).startswith("40/chat")
            async with http.post(url, data='42/chat,1["join",{"room":"r","name":"slow"}]') as r:
                assert r.status == 200
            async with http.get(url) as r:
                assert "43/chat,1" in await r.text()
            slow = sio.eio.sockets[sid]
            text = "x" * 3900
            for _ in range(5):  # ~20 KB: over a quarter of the limit
                await writer.call("message", {"room": "r", "text": text}, namespace="/chat")
            backlog = slow.buffered_bytes
            assert backlog > 65_536 // 4
            await writer.call("typing", {"room": "r"}, namespace="/chat")
            assert slow.buffered_bytes == backlog  # the volatile typing event was dropped
            # and when it goes to several clients at once, for the slow one only
            reader = socketio.AsyncClient()
            await reader.connect(str(srv.make_url("/")), namespaces=["/chat"], wait_timeout=5)
            typing = Inbox(reader, "typing", "/chat")
            await reader.call("join", {"room": "r", "name": "reader"}, namespace="/chat")
            backlog = slow.buffered_bytes
            await writer.call("typing", {"room": "r"}, namespace="/chat")
            assert await typing.get() == {"room": "r", "name": "w"}
            assert slow.buffered_bytes == backlog
            await reader.disconnect()
            await reader.shutdown()
            for _ in range(20):
                await writer.call("message", {"room": "r", "text": text}, namespace="/chat")
            await eventually(lambda: sid not in sio.eio.sockets)
            assert slow.buffer == [] and slow.buffered_bytes == 0
        assert any("slow consumer" in r.getMessage() for r in caplog.records)
    finally:
        await writer.disconnect()
        await writer.shutdown()


async def test_typing_still_reaches_readers_that_keep_up(connect: Connect) -> None:
    alice = await connect(["/chat"], auth={"token": token()})
    bob = await connect(["/chat"], auth={"token": token(sub="u-2", name="Bob")})
    typing = Inbox(bob, "typing")
    await call(alice, "join", {"room": "r"})
    await call(bob, "join", {"room": "r"})
    await call(alice, "typing", {"room": "r"})
    assert await typing.get() == {"room": "r", "name": "Alice"}


async def test_slow_websocket_consumer_is_closed(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="socketsvc")
    srv = await start_server(
        max_payload=65_536, max_buffer_bytes=262_144, rate_limit_events=0, auth="none"
    )
    await slow_consumer(srv)
    # one line per cause: the sends after the cut in the same turn do not log again
    assert sum("slow consumer" in r.getMessage() for r in caplog.records) == 1


async def slow_consumer(srv: Any) -> None:
    """A raw websocket client in /chat room ``r`` that stops reading until it is cut."""
    sio = srv.app[SIO]
    writer = socketio.AsyncClient()
    await writer.connect(str(srv.make_url("/")), namespaces=["/chat"], wait_timeout=5)
    connector = aiohttp.TCPConnector(socket_factory=_small_rcvbuf_socket)
    try:
        await writer.call("join", {"room": "r", "name": "w"}, namespace="/chat")
        async with aiohttp.ClientSession(connector=connector) as http:
            ws = await http.ws_connect(eio(srv, transport="websocket"), autoping=False)
            sid = (await ws.receive_str()).split('"sid":"')[1].split('"')[0]
            await ws.send_str("40/chat,")
            await ws.receive()
            await ws.send_str('42/chat,1["join",{"room":"r","name":"slow"}]')
            await ws.receive()
            for _ in range(2000):  # at most ~8 MB; the limit trips long before
                if sid not in sio.eio.sockets:
                    break
                await writer.emit("message", {"room": "r", "text": "x" * 3900}, namespace="/chat")
                await asyncio.sleep(0)
            await eventually(lambda: sid not in sio.eio.sockets, timeout=10)
            await ws.close()
    finally:
        await writer.disconnect()
        await writer.shutdown()


def _small_rcvbuf_socket(addr_info: Any) -> Any:
    import socket

    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=type_, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock
