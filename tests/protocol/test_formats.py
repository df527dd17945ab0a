"""One endpoint for JSON and msgpack clients: detection, mixed rooms, encode-once, fidelity."""

from __future__ import annotations

from collections import Counter
from typing import Any

import aiohttp
import msgpack
import pytest
import socketio
from aiohttp.test_utils import TestServer

from socketsvc import protocol
from tests.conftest import CLIENT_SERIALIZERS, Inbox, StartServer

NS = "/test"


@pytest.fixture
async def clients(start_server: StartServer, transport: str):  # type: ignore[no-untyped-def]
    """A server on its defaults (serializer = auto) and a factory of clients of either parser."""
    server = await start_server()
    made: list[socketio.AsyncClient] = []

    async def make(parser: str, namespace: str = NS) -> socketio.AsyncClient:
        client = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[parser])
        made.append(client)
        await client.connect(
            str(server.make_url("/")), namespaces=[namespace], transports=[transport]
        )
        return client

    make.server = server  # type: ignore[attr-defined]
    yield make
    for client in made:
        await client.disconnect()
        await client.shutdown()


async def call(client: socketio.AsyncClient, event: str, *args: Any) -> Any:
    return await client.call(event, args if len(args) > 1 else args[0], namespace=NS, timeout=5)


async def test_both_parsers_chat_in_one_room(clients) -> None:  # type: ignore[no-untyped-def]
    j, m = await clients("json", "/chat"), await clients("msgpack", "/chat")
    to_j, to_m = Inbox(j, "message"), Inbox(m, "message")
    await j.call("join", {"room": "r", "name": "j"}, namespace="/chat")
    await m.call("join", {"room": "r", "name": "m"}, namespace="/chat")
    await j.call("message", {"room": "r", "text": "to msgpack"}, namespace="/chat")
    assert (await to_m.get())["text"] == "to msgpack"
    await m.call("message", {"room": "r", "text": "to json"}, namespace="/chat")
    assert (await to_j.get())["text"] == "to json"


FIDELITY_CASES = {
    "bytes": b"\x00\x01\xfe\xff" * 64,
    "int": 2**53 - 1,
    "negative": -(2**53) + 1,
    "float": 1.5e-7,
    "unicode": "zażółć gęślą jaźń 🧪 \u0000",
    "nested": {"a": [1, {"b": [None, True, False, "x", b"\x01"]}], "empty": {}, "list": []},
    "null": None,
}


@pytest.mark.parametrize("direction", ["json->msgpack", "msgpack->json"])
async def test_values_cross_formats_unchanged(clients, direction: str) -> None:  # type: ignore[no-untyped-def]
    source, target = direction.split("->")
    sender, receiver = await clients(source), await clients(target)
    inbox = Inbox(receiver, "relay", NS)
    await call(sender, "enter", "fidelity")
    await call(receiver, "enter", "fidelity")
    assert await call(sender, "relay", "fidelity", FIDELITY_CASES) == "relayed"
    assert await inbox.get() == FIDELITY_CASES


async def test_what_json_cannot_hold_reaches_msgpack_clients_and_the_sender_learns(clients) -> None:  # type: ignore[no-untyped-def]
    """An encode failure for one format keeps the event from that format's clients only."""
    sender, m_peer, j_peer = (
        await clients("msgpack"),
        await clients("msgpack"),
        await clients("json"),
    )
    m_inbox, j_inbox = Inbox(m_peer, "relay", NS), Inbox(j_peer, "relay", NS)
    for client in (sender, m_peer, j_peer):
        await call(client, "enter", "big")
    reply = await call(sender, "relay", "big", {"id": 2**60})
    assert reply["error"]["code"] == "unencodable"
    assert "json" in reply["error"]["message"] and "2**53" in reply["error"]["message"]
    assert await m_inbox.get() == {"id": 2**60}
    assert await call(sender, "relay", "big", {"id": 2**53 - 1}) == "relayed"
    assert await j_inbox.get() == {"id": 2**53 - 1}  # the first: the refused one never came
    assert await m_inbox.get() == {"id": 2**53 - 1}


@pytest.mark.parametrize(
    ("value", "code"), [(msgpack.ExtType(5, b"ab"), 5), (msgpack.Timestamp(1, 0), -1)]
)
async def test_msgpack_extensions_that_are_not_js_values_are_refused(  # type: ignore[no-untyped-def]
    clients, value: Any, code: int
) -> None:
    client = await clients("msgpack")
    assert await call(client, "ack-echo", [value]) == {
        "error": {
            "code": "invalid_payload",
            "message": f"msgpack extension type {code} is not supported",
        }
    }
    assert await call(client, "ack-echo", "still served") == "still served"


async def test_unencodable_return_values_become_error_acks(clients, caplog) -> None:  # type: ignore[no-untyped-def]
    j, m = await clients("json"), await clients("msgpack")
    refusals = []
    for kind in ("nan", "big", "huge", "nan"):
        reply = await call(j, "produce", kind)
        assert reply["error"]["code"] == "unencodable", kind
        refusals.append(reply["error"]["message"])
    # Each cause (NaN; an unsafe int, big or huge) is logged once, with the namespace and
    # what the client was told.
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ack not sent")]
    told = [f"ack not sent in /test: {text} (logged once per cause)" for text in refusals]
    assert logged == told[:2], logged
    # Keys a handler builds as numbers reach JSON clients as strings, as a JS object has them.
    assert await call(j, "produce", "int_keys") == {"1": "one"}
    assert (await call(m, "produce", "huge"))["error"]["code"] == "unencodable"
    assert await call(m, "produce", "big") == 2**60
    nan = await call(m, "produce", "nan")
    assert isinstance(nan, float) and nan != nan
    assert await call(j, "produce", "max_safe") == 2**53 - 1


async def test_msgpack_map_with_non_string_keys_gets_an_error_ack(clients) -> None:  # type: ignore[no-untyped-def]
    client = await clients("msgpack")
    reply = await call(client, "ack-echo", {1: "one"})
    assert reply == {"error": {"code": "invalid_payload", "message": "map keys must be strings"}}
    assert await call(client, "ack-echo", {"1": "one"}) == {"1": "one"}


async def test_a_broadcast_is_encoded_once_per_format(
    clients, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    members = [await clients("json") for _ in range(4)] + [
        await clients("msgpack") for _ in range(4)
    ]
    inboxes = [Inbox(c, "shout", NS) for c in members]
    for client in members:
        await call(client, "enter", "count")
    encodes: Counter[str] = Counter()
    original = protocol.encode_frames

    def counting(cls: Any, *args: Any, **kwargs: Any) -> Any:
        encodes[cls.__name__] += 1
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(protocol, "encode_frames", counting)
    await members[0].emit("shout", ("count", "hello all", True), namespace=NS)
    for inbox in inboxes:
        assert await inbox.get() == {"text": "hello all"}
    assert encodes == Counter({"JsonPacket": 1, "MsgPackPacket": 1})


@pytest.mark.parametrize("pinned, other", [("json", "msgpack"), ("msgpack", "json")])
async def test_a_pinned_serializer_refuses_the_other_parser_clearly(
    start_server: StartServer, transport: str, pinned: str, other: str
) -> None:
    server = await start_server(serializer=pinned)
    client = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[other])
    seen: list[Any] = []
    client.on("connect_error", seen.append, namespace="/chat")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            str(server.make_url("/")), namespaces=["/chat"], transports=[transport], wait_timeout=5
        )
    await client.shutdown()
    assert seen == [
        {
            "message": f"this server accepts only {pinned}-parser clients",
            "data": {"code": "unsupported_parser"},
        }
    ]
    same = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[pinned])
    await same.connect(str(server.make_url("/")), namespaces=["/chat"], transports=[transport])
    await same.disconnect()
    await same.shutdown()


async def raw_websocket(server: TestServer, session: aiohttp.ClientSession) -> Any:
    ws = await session.ws_connect(server.make_url("/socket.io/?EIO=4&transport=websocket"))
    opened = await ws.receive(timeout=5)
    assert opened.data.startswith("0{")
    return ws


async def closes(ws: Any) -> bool:
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
        ):
            return True


@pytest.mark.parametrize(
    "first_frame",
    [
        pytest.param("9nonsense", id="invalid-engineio-packet"),
        pytest.param(b"\xc1\xff\x00garbage", id="binary-garbage"),
        pytest.param("4hello", id="text-not-a-packet"),
        pytest.param(
            msgpack.packb({"type": 2, "nsp": "/chat", "data": ["x"]}), id="msgpack-event-first"
        ),
        pytest.param(msgpack.packb({"type": 0, "nsp": 7}), id="msgpack-nsp-not-a-string"),
        pytest.param(msgpack.packb([0, "/"]), id="msgpack-not-a-map"),
        pytest.param('42["message"]', id="json-event-before-connect"),
    ],
)
async def test_a_malformed_first_frame_closes_only_that_connection(
    start_server: StartServer, first_frame: Any
) -> None:
    server = await start_server()
    alice, bob = socketio.AsyncClient(), socketio.AsyncClient(serializer="msgpack")
    inbox = Inbox(bob, "message")
    for client, name in ((alice, "alice"), (bob, "bob")):
        await client.connect(str(server.make_url("/")), namespaces=["/chat"])
        await client.call("join", {"room": "calm", "name": name}, namespace="/chat")
    async with aiohttp.ClientSession() as session:
        ws = await raw_websocket(server, session)
        if isinstance(first_frame, bytes):
            await ws.send_bytes(first_frame)
        else:
            await ws.send_str(first_frame)
        assert await closes(ws)
    await alice.call("message", {"room": "calm", "text": "still chatting"}, namespace="/chat")
    assert (await inbox.get())["text"] == "still chatting"
    for client in (alice, bob):
        await client.disconnect()
        await client.shutdown()


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param('42/chat,["members",{"room":"x"}]', id="text-on-msgpack"),
        pytest.param(b"\x92\xc1", id="garbage-msgpack"),
        pytest.param(msgpack.packb({"type": 2, "nsp": ["/chat"], "data": ["x"]}), id="nsp-list"),
        pytest.param(msgpack.packb({"type": 2, "nsp": "/chat", "data": {}}), id="data-not-list"),
        pytest.param(msgpack.packb({"type": 3, "nsp": "/chat", "data": []}), id="ack-no-id"),
    ],
)
async def test_malformed_packets_on_a_msgpack_connection_close_it(
    start_server: StartServer, frame: Any
) -> None:
    server = await start_server()
    async with aiohttp.ClientSession() as session:
        ws = await raw_websocket(server, session)
        await ws.send_bytes(msgpack.packb({"type": 0, "nsp": "/chat"}))
        connected = msgpack.unpackb((await ws.receive(timeout=5)).data)
        assert connected["type"] == 0 and "sid" in connected["data"]
        await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
        assert await closes(ws)
