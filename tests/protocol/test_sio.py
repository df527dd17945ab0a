"""Socket.IO v5 over Engine.IO v4: namespaces, auth, events, acks, binary.

The invalid-namespace answer, closing on invalid Socket.IO packets and the connect
timeout are wrong in stock python-socketio and fixed in ``socketsvc.sio.server``.
"""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from protocol_client import Clock, Polling, WebSocket, sio_connect, sio_event

BIN_PLACEHOLDER = {"_placeholder": True, "num": 0}


@pytest.fixture(params=["websocket", "polling"])
async def client(request, target, session):
    if request.param == "websocket":
        c = await WebSocket.open(session, target)
        yield c
        await c.close()
    else:
        yield await Polling.open(session, target)


async def test_connect_main_namespace(client):
    sid, auth = await sio_connect(client)
    assert isinstance(sid, str) and sid
    assert auth == {}


async def test_connect_custom_namespace(client):
    sid_main, _ = await sio_connect(client)
    sid_custom, auth = await sio_connect(client, "/custom")
    assert sid_custom != sid_main
    assert auth == {}


async def test_auth_payload_echo(client):
    _, auth = await sio_connect(client, auth={"token": "123", "n": [1, 2]})
    assert auth == {"token": "123", "n": [1, 2]}
    _, auth = await sio_connect(client, "/custom", auth={"token": "abc"})
    assert auth == {"token": "abc"}


async def test_unknown_namespace(client):
    await client.send("40/random,")
    assert await client.recv() == '44/random,{"message":"Invalid namespace"}'


async def test_client_disconnect_namespace(client):
    await sio_connect(client)
    first, _ = await sio_connect(client, "/custom")
    await client.send("41/custom,")
    # the main namespace is unaffected; this round trip also lets Node finish
    # the DISCONNECT (handled on nextTick) before the namespace is rejoined
    await client.send(sio_event("/", "message", "main"))
    assert await client.recv() == '42["message-back","main"]'
    second, _ = await sio_connect(client, "/custom")
    assert second != first


async def test_server_disconnect_namespace(client):
    await sio_connect(client)
    await client.send(sio_event("/", "disconnect-me"))
    assert await client.recv() == "41"
    # the Engine.IO session stays open: the namespace can be joined again
    sid, _ = await sio_connect(client)
    assert sid


async def test_events(client):
    await sio_connect(client)
    await sio_connect(client, "/custom")
    await client.send(sio_event("/", "message", 1, "two", {"three": [3.5, None, True]}))
    assert await client.recv() == '42["message-back",1,"two",{"three":[3.5,null,true]}]'
    await client.send(sio_event("/custom", "message", "c"))
    assert await client.recv() == '42/custom,["message-back","c"]'


async def test_acks(client):
    await sio_connect(client)
    await sio_connect(client, "/custom")
    await client.send(sio_event("/", "ack-echo", "a", 2, ack=1))
    assert await client.recv() == '431["a",2]'
    await client.send(sio_event("/custom", "ack-echo", {"x": "y"}, ack=57))
    assert await client.recv() == '43/custom,57[{"x":"y"}]'


def binary_frames(client, head: str, *blobs: bytes) -> list:
    if isinstance(client, WebSocket):
        return [head, *blobs]
    return [head, *("b" + base64.b64encode(blob).decode() for blob in blobs)]


async def test_binary_event(client):
    await sio_connect(client)
    blob = bytes(range(256))
    head = "451-" + json.dumps(["message", BIN_PLACEHOLDER, "tail"], separators=(",", ":"))
    await client.send(*binary_frames(client, head, blob))
    got = await client.recv_until(lambda g: len(g) == 2)
    assert got == binary_frames(
        client, '451-["message-back",{"_placeholder":true,"num":0},"tail"]', blob
    )


async def test_binary_event_custom_namespace(client):
    await sio_connect(client, "/custom")
    head = '451-/custom,["message",{"_placeholder":true,"num":0}]'
    await client.send(*binary_frames(client, head, b"\x00\xff"))
    got = await client.recv_until(lambda g: len(g) == 2)
    assert got == binary_frames(
        client, '451-/custom,["message-back",{"_placeholder":true,"num":0}]', b"\x00\xff"
    )


async def test_attachments_fill_placeholders_by_number_not_arrival(client):
    # Attachment n is the n-th binary frame; a placeholder names its attachment by number,
    # wherever it sits in the data. Echoed back, they are numbered in order of appearance.
    await sio_connect(client)
    head = '452-["message",{"_placeholder":true,"num":1},{"x":[{"_placeholder":true,"num":0}]}]'
    await client.send(*binary_frames(client, head, b"zero", b"one"))
    got = await client.recv_until(lambda g: len(g) == 3)
    echo = (
        '452-["message-back",{"_placeholder":true,"num":0},{"x":[{"_placeholder":true,"num":1}]}]'
    )
    assert got == binary_frames(client, echo, b"one", b"zero")


async def test_binary_ack(client):
    await sio_connect(client)
    head = '451-7["ack-echo",{"_placeholder":true,"num":0}]'
    await client.send(*binary_frames(client, head, b"\x01\x02\x03"))
    got = await client.recv_until(lambda g: len(g) == 2)
    assert got == binary_frames(client, '461-7[{"_placeholder":true,"num":0}]', b"\x01\x02\x03")


# ------------------------------------------------ fixed by the server layer
async def wait_transport_closed(c: WebSocket, within: float = 0.8) -> bool:
    """True if the server closes the websocket within ``within`` seconds while the
    client keeps answering PINGs (so a ping timeout cannot fake a pass)."""
    try:
        await c.wait_closed(within=within)
    except TimeoutError:
        return False
    return True


@pytest.mark.parametrize("bad", ["4abc", "42{}", '42abc["message"]', '42["message"'])
async def test_invalid_packet_closes_transport(target, session, bad):
    c = await WebSocket.open(session, target)
    await sio_connect(c)
    await c.send(bad)
    assert await wait_transport_closed(c)


async def test_event_before_connect_closes_transport(target, session):
    c = await WebSocket.open(session, target)
    await c.send(sio_event("/", "message", "too early"))
    assert await wait_transport_closed(c)


async def test_connect_timeout(target, session):
    # Node: connectTimeout (1000 ms here) closes a transport that never joins
    # a namespace; the client answers PINGs meanwhile.
    clock = Clock()
    c = await WebSocket.open(session, target)
    assert await wait_transport_closed(c, within=2.0)
    assert clock.elapsed >= 0.8


@pytest.mark.parametrize(
    "placeholder",
    [
        '{"_placeholder":true,"num":-1}',  # Python indexing would take the last attachment
        '{"_placeholder":true,"num":1}',  # one attachment: index 1 is past the end
        '{"_placeholder":true,"num":true}',
        '{"_placeholder":true,"num":"0"}',
        '{"_placeholder":true,"num":1.5}',
        '{"_placeholder":true}',
    ],
)
async def test_bad_attachment_placeholder_closes_transport(target, session, placeholder):
    # socket.io-parser: "illegal attachments" unless num is a number in [0, attachments)
    c = await WebSocket.open(session, target)
    await sio_connect(c)
    await c.send(f'451-["message",{placeholder}]', b"\x01")
    assert await wait_transport_closed(c)


async def test_connect_timeout_spares_a_transport_that_joined(target, session):
    # Three transports open together and answer PINGs: one joins a namespace, one is refused
    # (unknown namespace), one joins nothing. The last two are closed at the connect timeout;
    # the first is still served after that (their closing is the clock: no sleep).
    clock = Clock()
    joined, refused, idle = [await WebSocket.open(session, target) for _ in range(3)]
    await sio_connect(joined)
    await refused.send("40/random,")
    assert await refused.recv() == '44/random,{"message":"Invalid namespace"}'
    reply = asyncio.ensure_future(joined.recv(within=5))  # answers PINGs meanwhile
    closed = await asyncio.gather(
        wait_transport_closed(idle, within=2.0), wait_transport_closed(refused, within=2.0)
    )
    assert closed == [True, True] and clock.elapsed >= 0.8
    await joined.send(sio_event("/", "message", "still here"))
    assert await reply == '42["message-back","still here"]'
    await joined.close()
