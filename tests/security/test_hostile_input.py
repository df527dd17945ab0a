"""Hostile and unlucky packets (issue #14): one client must never hurt another.

Real servers, real clients: python-socketio clients with both serializers over both transports,
and raw websockets for packets no stock client sends. After each attack the other clients are
still served, and the log holds no traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgpack
import pytest
import socketio

from socketsvc.app.factory import SIO
from tests.conftest import ConnectTo, Inbox, StartServer, eventually

LONE = "\udfff"  # valid JSON ("\\udfff"), a valid JS string, not valid Unicode
PLACEHOLDER = '{"_placeholder":true,"num":0}'
MEMBERS = [("json", "websocket"), ("json", "polling"), ("msgpack", "websocket")]
MEMBERS += [("msgpack", "polling")]


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log records with a traceback, or at ERROR and above, from any logger."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.exc_info or r.levelno >= logging.ERROR
    ]


def invalid_packet_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "invalid packet" in r.getMessage()]


async def call(client: socketio.AsyncClient, event: str, data: Any, ns: str = "/chat") -> Any:
    return await client.call(event, data, namespace=ns, timeout=5)


async def raw_websocket(http: aiohttp.ClientSession, srv: Any) -> aiohttp.ClientWebSocketResponse:
    url = str(srv.make_url("/socket.io/")) + "?EIO=4&transport=websocket"
    ws = await http.ws_connect(url, max_msg_size=0)
    await ws.receive()  # OPEN
    return ws


async def frames(ws: aiohttp.ClientWebSocketResponse) -> AsyncIterator[Any]:
    """The server's messages other than pings (those are answered), until it closes ``ws``."""
    while True:
        msg = await ws.receive()
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return
        if msg.data == "2":
            await ws.send_str("3")
            continue
        yield msg.data


async def closed_by_server(ws: aiohttp.ClientWebSocketResponse, within: float = 3.0) -> bool:
    """Whether the server closes ``ws`` within ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            async for _ in frames(ws):
                pass
    except TimeoutError:
        return False
    return True


# -- lone surrogates -------------------------------------------------------------------------


async def test_lone_surrogates_are_refused_where_they_enter_chat_and_the_room_keeps_working(
    start_server: StartServer, connect_to: ConnectTo, caplog: pytest.LogCaptureFixture
) -> None:
    srv = await start_server()
    members = [await connect_to(srv, fmt, transport) for fmt, transport in MEMBERS]
    names = [f"m{i}" for i in range(len(members))]
    for member, name in zip(members, names, strict=True):
        await call(member, "join", {"room": "r", "name": name})
    messages = Inbox(members[0], "message")
    attacker = await connect_to(srv, "json", "websocket")

    for request, field in (
        ({"room": "r", "name": LONE}, "'name'"),
        ({"room": "r", "name": "ev" + LONE + "e"}, "'name'"),
        ({"room": "lobby" + LONE, "name": "eve"}, "'room'"),
    ):
        reply = await call(attacker, "join", request)
        assert reply["error"]["code"] == "invalid_payload", reply
        assert field in reply["error"]["message"], reply
    assert await call(attacker, "members", {"room": "r"}) == {
        "error": {"code": "not_in_room", "message": "join room 'r' first"}
    }
    assert (await call(attacker, "join", {"room": "r", "name": "eve"}))["members"][-1] == "eve"
    reply = await call(attacker, "message", {"room": "r", "text": "hi " + LONE})
    assert reply["error"]["code"] == "invalid_payload" and "'text'" in reply["error"]["message"]

    for member in members:  # every member, on every transport and format, is still answered
        assert await call(member, "members", {"room": "r"}) == {
            "room": "r",
            "members": [*names, "eve"],
        }
    await call(attacker, "message", {"room": "r", "text": "plain"})
    assert (await messages.get())["text"] == "plain"
    assert all(m.connected for m in members)
    assert tracebacks(caplog) == []


async def test_declared_string_fields_refuse_lone_surrogates_naming_the_field(
    start_server: StartServer, connect_to: ConnectTo
) -> None:
    srv = await start_server()
    client = await connect_to(srv, "json", "websocket", ns="/test")
    reply = await call(client, "point", {"x": 1, "y": 2, "label": LONE}, ns="/test")
    assert reply["error"]["code"] == "invalid_payload"
    assert "'label'" in reply["error"]["message"]
    assert "Unicode" in reply["error"]["message"]
    assert await call(client, "point", {"x": 1, "y": 2, "label": "ok"}, ns="/test") == {
        "sum": 3,
        "label": "ok",
    }
    # a constrained string argument, not inside a dataclass: the same defence
    reply = await call(client, "tag", "ab" + LONE, ns="/test")
    assert reply["error"] == {
        "code": "invalid_payload",
        "message": "payload must be valid Unicode (it holds a lone surrogate)",
    }
    assert await call(client, "tag", "été", ns="/test") == "été"


async def test_free_form_lone_surrogates_reach_json_clients_and_msgpack_refusal_hurts_nobody(
    start_server: StartServer, connect_to: ConnectTo, caplog: pytest.LogCaptureFixture
) -> None:
    """Data a handler does not declare is relayed as JSON.stringify would write it (the
    surrogate escaped); msgpack cannot carry it, and that refusal reaches only the sender."""
    srv = await start_server()
    sender = await connect_to(srv, "json", "polling", ns="/test")
    json_members = [await connect_to(srv, "json", t, ns="/test") for t in ("websocket", "polling")]
    msgpack_member = await connect_to(srv, "msgpack", "websocket", ns="/test")
    everyone = [*json_members, msgpack_member]
    inboxes = [Inbox(m, "relay", "/test") for m in everyone]
    for member in everyone:
        await call(member, "enter", "room", ns="/test")

    payload = {"text": "a" + LONE + "b", LONE: [LONE]}
    reply = await call(sender, "relay", ("room", payload), ns="/test")
    assert reply["error"]["code"] == "unencodable", reply
    assert "msgpack" in reply["error"]["message"] and "Unicode" in reply["error"]["message"]
    for inbox in inboxes[:2]:
        assert await inbox.get() == payload
    assert await call(sender, "ack-echo", payload, ns="/test") == payload

    assert await call(sender, "relay", ("room", {"text": "fine"}), ns="/test") == "relayed"
    for inbox in inboxes:  # the msgpack member's first: the refused one never came
        assert await inbox.get() == {"text": "fine"}
    assert all(m.connected for m in [sender, *everyone])
    assert tracebacks(caplog) == []


# -- deep nesting ----------------------------------------------------------------------------


async def answer_or_close(ws: aiohttp.ClientWebSocketResponse, within: float = 3.0) -> Any:
    """The server's first answer other than a ping, or None if it closes ``ws`` instead."""
    async with asyncio.timeout(within):
        async for data in frames(ws):
            return data
    return None


async def send_nested_placeholder(srv: Any, http: aiohttp.ClientSession, depth: int) -> Any:
    ws = await raw_websocket(http, srv)
    await ws.send_str("40/test,")
    assert (await ws.receive()).data.startswith("40/test,")
    nested = "[" * depth + PLACEHOLDER + "]" * depth
    await ws.send_str(f'451-/test,1["echo",{nested}]')
    await ws.send_bytes(b"\x01\x02")
    return await answer_or_close(ws)


async def send_nested_undefined(srv: Any, http: aiohttp.ClientSession, depth: int) -> Any:
    ws = await raw_websocket(http, srv)
    await ws.send_bytes(msgpack.packb({"type": 0, "nsp": "/test"}))
    assert (await ws.receive()).type == aiohttp.WSMsgType.BINARY
    # {"type": 2, "nsp": "/test", "id": 1, "data": ["echo", [[[...[undefined]...]]]]}
    head = b"\x84" + b"".join(msgpack.packb(x) for x in ("type", 2, "nsp", "/test", "id", 1))
    head += msgpack.packb("data") + b"\x92" + msgpack.packb("echo")
    undefined = b"\xd4\x00\x00"  # notepack's undefined: fixext 1, type 0
    await ws.send_bytes(head + b"\x91" * depth + undefined)
    return await answer_or_close(ws)


@pytest.mark.parametrize(
    ("send", "depth"),
    [
        # parsed (Python 3.12+ parses JSON 10^4 deep), too deep to put the attachment in
        (send_nested_placeholder, 5000),
        (send_nested_placeholder, 100_000),  # too deep for the JSON parser itself
        (send_nested_undefined, 1020),  # parsed (msgpack: 1024), too deep to strip undefined
    ],
)
async def test_packets_nested_too_deeply_to_decode_close_only_the_sender(
    start_server: StartServer,
    connect_to: ConnectTo,
    caplog: pytest.LogCaptureFixture,
    send: Any,
    depth: int,
) -> None:
    srv = await start_server()
    bystander = await connect_to(srv, "json", "websocket", ns="/test")
    async with aiohttp.ClientSession() as http:
        assert await send(srv, http, depth) is None  # closed: it cannot be repeated
    assert await call(bystander, "ack-echo", "still here", ns="/test") == "still here"
    assert len(invalid_packet_lines(caplog)) == 1
    assert tracebacks(caplog) == []
    await eventually(lambda: srv.app[SIO].reader.state_size() == 1)  # the bystander's format


@pytest.mark.parametrize(
    ("send", "depth"), [(send_nested_placeholder, 600), (send_nested_undefined, 900)]
)
async def test_packets_nested_near_pythons_limit_are_answered_or_closed_cleanly(
    start_server: StartServer,
    connect_to: ConnectTo,
    caplog: pytest.LogCaptureFixture,
    send: Any,
    depth: int,
) -> None:
    """Whether these decode depends on the Python version and the stack in use (Node accepts
    them): either way no traceback, and never a connection left open after a decode error."""
    srv = await start_server()
    bystander = await connect_to(srv, "json", "websocket", ns="/test")
    async with aiohttp.ClientSession() as http:
        answer = await send(srv, http, depth)
    if answer is None:
        assert len(invalid_packet_lines(caplog)) == 1
    else:  # decoded: the echo's ack (or its unencodable error), and nothing about a packet
        assert invalid_packet_lines(caplog) == []
    assert await call(bystander, "ack-echo", "still here", ns="/test") == "still here"
    assert tracebacks(caplog) == []


async def test_deep_data_that_decodes_is_refused_per_format_without_a_traceback(
    start_server: StartServer, connect_to: ConnectTo, caplog: pytest.LogCaptureFixture
) -> None:
    """A msgpack client may send data nested as deep as its parser allows (1024); each
    recipient format that cannot encode it is refused, the others receive it."""
    srv = await start_server()
    sender = await connect_to(srv, "msgpack", "websocket", ns="/test")
    json_member = await connect_to(srv, "json", "websocket", ns="/test")
    msgpack_member = await connect_to(srv, "msgpack", "polling", ns="/test")
    for member in (json_member, msgpack_member):
        await call(member, "enter", "deep", ns="/test")
    inbox = Inbox(json_member, "relay", "/test")
    deep: Any = [2**60]  # a long digit run: the JSON encoder's integer check walks the data
    for _ in range(1000):
        deep = [deep]
    reply = await call(sender, "relay", ("deep", deep), ns="/test")
    assert reply == "relayed" or reply["error"]["code"] == "unencodable", reply
    assert await call(sender, "relay", ("deep", "after"), ns="/test") == "relayed"
    if reply == "relayed":
        await inbox.get()  # the deep one
    assert await inbox.get() == "after"  # a refused one would have come before
    assert await call(sender, "ack-echo", "after", ns="/test") == "after"
    assert await call(json_member, "ack-echo", "after", ns="/test") == "after"
    assert tracebacks(caplog) == []


async def test_deeply_nested_json_from_a_client_is_answered_or_refused_cleanly(
    start_server: StartServer, connect_to: ConnectTo, caplog: pytest.LogCaptureFixture
) -> None:
    srv = await start_server()
    bystander = await connect_to(srv, "json", "websocket", ns="/test")
    async with aiohttp.ClientSession() as http:
        for depth in (900, 5000, 100_000):
            ws = await raw_websocket(http, srv)
            await ws.send_str("40/test,")
            await ws.receive()
            nested = "[" * depth + "1" + "]" * depth
            await ws.send_str(f'42/test,7["ack-echo",{nested}]')
            if not await closed_by_server(ws, within=0.5):
                await ws.close()  # decoded (Python 3.12+ parses 10^4 levels) and answered
    assert await call(bystander, "ack-echo", "fine", ns="/test") == "fine"
    assert tracebacks(caplog) == []


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
async def test_the_main_namespace_accepts_clients_without_a_handler(
    start_server: StartServer,
    connect_to: ConnectTo,
    caplog: pytest.LogCaptureFixture,
    serializer: str,
) -> None:
    """``io(url)`` joins "/", which exists on every node as on Node's; no handler serves it
    here, so a connect there must still be answered (it once raised inside python-socketio)."""
    srv = await start_server()
    client = await connect_to(srv, serializer, "websocket", ns="/")
    assert client.get_sid("/") is not None
    assert tracebacks(caplog) == []
