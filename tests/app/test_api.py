"""``POST /api/v1/emit`` under hostile and unlucky input: 202 only for what is handed to
delivery, 503 once shutdown has begun, a clear 4xx (never a 500) for any body."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import socketio

from socketsvc.app.factory import SIO
from tests.cli_node import CliNode, cli_node
from tests.conftest import ConnectTo, Inbox, StartServer, eventually

KEY = "test-key-0123456789"
NOTICE = {"namespace": "/chat", "room": "news", "event": "notice", "data": {"n": 1}}


async def post(url: str, body: bytes, key: str = KEY) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def post_in_flight(node: CliNode, body: bytes) -> tuple[asyncio.StreamReader, Any]:
    """A POST to the API that the handler is reading: its headers (with ``Expect:
    100-continue``, so the server says when it routed the request), not its body yet."""
    url = urlsplit(node.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = (
        f"POST /api/v1/emit HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    )
    writer.write(head.encode())
    await writer.drain()
    async with asyncio.timeout(5):
        assert (await reader.readline()).startswith(b"HTTP/1.1 100")
        assert await reader.readline() == b"\r\n"
    return reader, writer


async def test_an_emit_after_sigterm_is_refused_503_not_accepted_and_dropped() -> None:
    body = json.dumps(NOTICE).encode()
    async with cli_node("--api-key", KEY, "--shutdown-grace", "5") as node:
        member = socketio.AsyncClient(reconnection=False)
        gone = asyncio.Event()
        member.on("disconnect", lambda *_: gone.set(), namespace="/chat")
        notices = Inbox(member, "notice")
        await member.connect(node.url, namespaces=["/chat"], transports=["websocket"])
        await member.call("join", {"room": "news", "name": "m"}, namespace="/chat", timeout=5)
        try:
            # accepted before the signal: delivered
            assert await post(node.url + "/api/v1/emit", body) == (202, {"status": "accepted"})
            data, _offset = await notices.get()  # /chat recovers: its emits carry an offset
            assert data == {"n": 1}
            # in flight when the signal arrives: aiohttp reads no more of it, so it can only
            # be refused, promptly and clearly (it used to hang until the grace ended)
            reader, writer = await post_in_flight(node, body)
            node.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(3):
                    status = (await reader.readline()).split()[1]
                    answer = await reader.read()
            except TimeoutError:
                raise AssertionError(node.output) from None
            finally:
                writer.close()
            assert status == b"503", answer
            assert b'"code": "shutting_down"' in answer
            await asyncio.wait_for(gone.wait(), 5)
        finally:
            await member.shutdown()
        assert await asyncio.wait_for(node.proc.wait(), 10) == 0
    assert "Traceback" not in node.output


async def test_emits_once_clients_are_being_closed_are_refused_503(
    start_server: StartServer, connect_to: ConnectTo
) -> None:
    """What the node's on_shutdown step does; the API is still reachable (in-process)."""
    srv = await start_server(api_key=KEY)
    url = str(srv.make_url("/api/v1/emit"))
    member = await connect_to(srv)
    notices = Inbox(member, "notice")
    await member.call("join", {"room": "news", "name": "m"}, namespace="/chat", timeout=5)
    await srv.app[SIO].close_all(timeout=1)
    status, answer = await post(url, json.dumps(NOTICE).encode())
    assert (status, answer["error"]["code"]) == (503, "shutting_down")
    await eventually(lambda: not member.connected)  # what was sent before came before this
    assert notices.so_far() == []


async def test_bodies_that_cannot_be_emitted_get_a_clear_4xx(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    srv = await start_server(api_key=KEY)
    url = str(srv.make_url("/api/v1/emit"))
    for depth in (900, 5000, 100_000):  # Python 3.12+ parses JSON nested 10^4 deep
        nested = "[" * depth + "1" + "]" * depth
        body = json.dumps({**NOTICE, "data": 0}).replace("0}", nested + "}").encode()
        status, answer = await post(url, body)
        assert status in (202, 400), (depth, status, answer)
    assert (status, answer["error"]["message"]) == (400, "body: nested too deeply")
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("recovery", [0, 120], ids=["without-recovery", "with-recovery"])
async def test_data_a_client_or_the_recovery_log_cannot_carry_is_refused_naming_the_field(
    start_server: StartServer,
    connect_to: ConnectTo,
    caplog: pytest.LogCaptureFixture,
    serializer: str,
    recovery: float,
) -> None:
    """Refused where it enters, whoever is connected: 400 naming the field, sent to nobody,
    no traceback (it used to be a 500 with a traceback per request where /chat recovers)."""
    srv = await start_server(api_key=KEY, namespace_recovery={"/chat": recovery})
    url = str(srv.make_url("/api/v1/emit"))
    member = await connect_to(srv, serializer)
    notices = Inbox(member, "notice")
    await member.call("join", {"room": "news", "name": "m"}, namespace="/chat", timeout=5)
    deep = ("data" + "[0]" * 512)[:200] + ": nested deeper than 512 levels"
    for data, message in [
        ({"text": "a\udfffb"}, "data.text: must be valid Unicode (it holds a lone surrogate)"),
        ({"list": [1, float("nan")]}, "data.list[1]: NaN and Infinity have no JSON form"),
        ({"n": 2**53}, "data.n: integers past 2**53 would be rounded"),
        ({"n": [-(2**64)]}, "data.n[0]: integers past 2**53 would be rounded"),
        (
            {"a b": {"\udfff": 1}},
            "data['a b']: keys must be valid Unicode (one holds a lone surrogate)",
        ),
        (nested(513), deep),
        ("\ud800", "data: must be valid Unicode (it holds a lone surrogate)"),
    ]:
        for _ in range(3):  # each time the same clear answer, and no log line per request
            status, answer = await post(url, json.dumps({**NOTICE, "data": data}).encode())
            assert (status, answer) == (400, {"error": {"code": "bad_request", "message": message}})
    for edge in [2**53 - 1, -(2**53) + 1, nested(512), "\u00e9\U0001f600", 1e308]:
        status, answer = await post(url, json.dumps({**NOTICE, "data": edge}).encode())
        assert status == 202, answer
        got = await notices.get()
        assert (got[0] if recovery else got) == edge  # the first thing it got: nothing before
    assert notices.so_far() == []
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING]


async def test_a_body_that_does_not_arrive_in_time_gets_408(start_server: StartServer) -> None:
    srv = await start_server(api_key=KEY, body_timeout=0.3)
    reader, writer = await asyncio.open_connection(srv.host, srv.port)
    head = (
        f"POST /api/v1/emit HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        "Content-Length: 100\r\n\r\n{"
    )
    writer.write(head.encode())
    await writer.drain()
    try:
        async with asyncio.timeout(3):
            assert (await reader.readline()).split()[1] == b"408"
    finally:
        writer.close()


@pytest.mark.parametrize(
    "namespace, status",
    [
        ("/chta", 404),
        ("/workspace", 404),
        ("/workspace/a/b", 404),
        ("/workspace/plans", 202),  # a pattern's namespace: served without an instance yet
        ("/", 202),
        ("/test", 202),
        ("/chat", 202),
    ],
)
async def test_an_emit_to_a_namespace_no_node_serves_is_404(
    start_server: StartServer, namespace: str, status: int
) -> None:
    server = await start_server(api_key=KEY)
    body = json.dumps({**NOTICE, "namespace": namespace}).encode()
    code, reply = await post(str(server.make_url("/api/v1/emit")), body)
    assert code == status, reply
    if status == 404:
        message = f"namespace: no namespace '{namespace}' is served"
        assert reply == {"error": {"code": "unknown_namespace", "message": message}}
    url = str(server.make_url("/api/v1/disconnect"))
    code, reply = await post(url, json.dumps({"namespace": namespace, "room": "r"}).encode())
    assert code == status, reply


async def test_chat_is_not_served_beside_an_apps_own_namespaces(
    start_server: StartServer, connect_to: ConnectTo
) -> None:
    server = await start_server(chat=None, api_key=KEY)  # the test namespaces are the app's
    code, reply = await post(str(server.make_url("/api/v1/emit")), json.dumps(NOTICE).encode())
    assert (code, reply["error"]["code"]) == (404, "unknown_namespace")
    async with aiohttp.ClientSession() as http, http.get(server.make_url("/")) as page:
        assert page.status == 404  # the chat page goes with /chat
    with pytest.raises(socketio.exceptions.ConnectionError, match="failed to connect: /chat"):
        await connect_to(server, ns="/chat")
    assert (await connect_to(server, ns="/test")).connected
