"""Engine.IO v4 message framing over polling and websocket.

Payloads are Socket.IO packets because both targets are Socket.IO servers
(Node's closes the connection on a non-Socket.IO message).
"""

from __future__ import annotations

from protocol_client import Polling, WebSocket, sio_connect, sio_event

BIN_HEAD_IN = '451-["message",{"_placeholder":true,"num":0}]'
BIN_HEAD_OUT = '451-["message-back",{"_placeholder":true,"num":0}]'


async def test_polling_post_answers_ok(target, session):
    c = await Polling.open(session, target)
    status, text = await c.post("40")
    assert (status, text) == (200, "ok")


async def test_polling_text_message(target, session):
    c = await Polling.open(session, target)
    await sio_connect(c)
    await c.send(sio_event("/", "message", "hello", 1, {"a": [True, None]}))
    assert await c.recv() == '42["message-back","hello",1,{"a":[true,null]}]'


async def test_polling_several_packets_per_post(target, session):
    c = await Polling.open(session, target)
    await sio_connect(c)
    # (Node closes the session if an event shares a payload with its CONNECT:
    # the namespace join completes asynchronously, so connect first.)
    status, text = await c.post(sio_event("/", "message", "a"), sio_event("/", "message", "b"))
    assert (status, text) == (200, "ok")
    got = await c.recv_until(lambda g: len([p for p in g if p.startswith('42["message')]) == 2)
    assert [p for p in got if p.startswith('42["message')] == [
        '42["message-back","a"]',
        '42["message-back","b"]',
    ]


async def test_polling_several_packets_per_poll(target, session):
    c = await Polling.open(session, target)
    await c.send("40")
    # the CONNECT reply and the "auth" event are both buffered by the time the
    # poll arrives, so they come back in one payload joined with \x1e
    status, text = await c.get()
    assert status == 200
    packets = text.split("\x1e")
    assert len(packets) == 2, text
    assert sorted(p[:8] for p in packets) == ['40{"sid"', '42["auth']


async def test_polling_burst_keeps_order(target, session):
    c = await Polling.open(session, target)
    await sio_connect(c)
    await c.send(sio_event("/", "burst", 3))
    got = await c.recv_until(lambda g: len(g) == 3)
    assert got == ['42["burst",0]', '42["burst",1]', '42["burst",2]']


async def test_polling_binary_base64(target, session):
    c = await Polling.open(session, target)
    await sio_connect(c)
    await c.send(BIN_HEAD_IN, "bAQIDBA==")
    got = await c.recv_until(lambda g: len(g) == 2)
    assert got == [BIN_HEAD_OUT, "bAQIDBA=="]


async def test_polling_binary_in_one_payload_with_text(target, session):
    c = await Polling.open(session, target)
    await sio_connect(c)
    await c.send(BIN_HEAD_IN, "bAQIDBA==", sio_event("/", "message", "after"))
    got = await c.recv_until(lambda g: len(g) == 3)
    assert got == [BIN_HEAD_OUT, "bAQIDBA==", '42["message-back","after"]']


async def test_websocket_text_message(target, session):
    c = await WebSocket.open(session, target)
    await sio_connect(c)
    await c.send(sio_event("/", "message", "hello"))
    assert await c.recv() == '42["message-back","hello"]'
    await c.close()


async def test_websocket_binary_frames(target, session):
    c = await WebSocket.open(session, target)
    await sio_connect(c)
    await c.send(BIN_HEAD_IN, b"\x01\x02\x03\x04")
    assert await c.recv() == BIN_HEAD_OUT
    # raw binary frame, no Engine.IO type byte
    assert await c.recv() == b"\x01\x02\x03\x04"
    await c.close()


MAX_PAYLOAD = 1_000_000


def event_of_size(size: int) -> str:
    """A ``message`` event whose Engine.IO packet is exactly ``size`` bytes."""
    head, tail = '42["message","', '"]'
    return head + "x" * (size - len(head) - len(tail)) + tail


async def test_a_message_of_exactly_max_payload_is_handled_on_both_transports(target, session):
    """maxPayload is the largest message allowed, not the first one refused: a websocket
    message of exactly 1e6 bytes is handled as a polling POST of 1e6 bytes is (Node's ws
    refuses a message only *over* maxPayload); one byte more closes the websocket (1009)."""
    exact = event_of_size(MAX_PAYLOAD)
    assert len(exact.encode()) == MAX_PAYLOAD
    back = exact.replace('"message"', '"message-back"', 1)
    ws = await WebSocket.open(session, target)
    await sio_connect(ws)
    await ws.send(exact)
    assert await ws.recv() == back
    await ws.send(event_of_size(MAX_PAYLOAD + 1))
    assert await ws.wait_closed() == []
    assert ws.ws.close_code == 1009
    polling = await Polling.open(session, target)
    await sio_connect(polling)
    await polling.send(exact)
    assert await polling.recv() == back
