"""Engine.IO v4 upgrade from long-polling to websocket."""

from __future__ import annotations

import asyncio

import aiohttp
from protocol_client import (
    PING_INTERVAL,
    Clock,
    Polling,
    WebSocket,
    eio_url,
    http,
    sio_connect,
    sio_event,
    split_payload,
)


async def open_connected(session, target) -> Polling:
    c = await Polling.open(session, target)
    await sio_connect(c)
    return c


async def second_ws_refused(session, target, sid) -> None:
    try:
        ws = await session.ws_connect(
            eio_url(target, ws=True, EIO=4, transport="websocket", sid=sid),
            timeout=aiohttp.ClientWSTimeout(ws_close=2),
        )
    except aiohttp.WSServerHandshakeError:
        return
    frames = await WebSocket(ws).wait_closed()
    assert frames == []


async def test_upgrade(target, session):
    c = await open_connected(session, target)
    ws = await WebSocket.connect(session, target, sid=c.sid)
    await ws.send("2probe")
    assert await ws.recv_raw() == "3probe"
    # the poll made during the upgrade is ended with a NOOP
    assert await c.get() == (200, "6")
    await ws.send("5")
    await ws.send(sio_event("/", "message", "upgraded"))
    # traffic after the upgrade flows over the websocket, with no stray NOOP
    assert await ws.recv() == '42["message-back","upgraded"]'
    await ws.close()


async def test_upgrade_noop_goes_to_pending_poll_only(target, session):
    c = await open_connected(session, target)
    clock = Clock()
    pending = asyncio.ensure_future(c.get())
    ws = await WebSocket.connect(session, target, sid=c.sid)
    await ws.send("2probe")
    assert await ws.recv_raw() == "3probe"
    assert await pending == (200, "6")
    assert clock.elapsed < PING_INTERVAL  # released by the probe, not a PING
    await ws.send("5")
    await ws.send(sio_event("/", "message", 1))
    assert await ws.recv() == '42["message-back",1]'
    await ws.close()


async def test_server_packets_buffered_during_upgrade_arrive_over_websocket(target, session):
    c = await open_connected(session, target)
    ws = await WebSocket.connect(session, target, sid=c.sid)
    await ws.send("2probe")
    assert await ws.recv_raw() == "3probe"
    assert await c.get() == (200, "6")
    await c.send(sio_event("/", "message", "during"))  # POST still allowed before "5"
    got = await c.recv()  # the client keeps polling until it sends "5"
    assert got == '42["message-back","during"]'
    await ws.send("5")
    await ws.send(sio_event("/", "message", "after"))
    assert await ws.recv() == '42["message-back","after"]'
    await ws.close()


async def test_http_requests_after_upgrade_rejected(target, session):
    c = await open_connected(session, target)
    ws = await WebSocket.connect(session, target, sid=c.sid)
    await ws.send("2probe", "5")
    # these race the upgrade on other connections and must not be served
    status, _ = await http(session, "GET", c.url)
    assert status == 400
    status, _ = await http(session, "POST", c.url, data=sio_event("/", "message", "x"))
    assert status == 400
    await ws.send(sio_event("/", "message", "ws"))
    assert await ws.recv() == "3probe"
    assert await ws.recv() == '42["message-back","ws"]'
    await ws.close()


async def test_second_websocket_during_upgrade_refused(target, session):
    c = await open_connected(session, target)
    ws = await WebSocket.connect(session, target, sid=c.sid)
    await ws.send("2probe")
    assert await ws.recv_raw() == "3probe"
    await second_ws_refused(session, target, c.sid)
    await ws.send("5")
    await ws.send(sio_event("/", "message", "still"))
    assert await ws.recv() == '42["message-back","still"]'
    await ws.close()


async def test_second_websocket_after_upgrade_refused(target, session):
    c = await open_connected(session, target)
    ws = await WebSocket.connect(session, target, sid=c.sid)
    await ws.send("2probe", "5")
    assert await ws.recv() == "3probe"
    await second_ws_refused(session, target, c.sid)
    await ws.send(sio_event("/", "message", "still"))
    assert await ws.recv() == '42["message-back","still"]'
    await ws.close()


async def test_websocket_for_websocket_session_refused(target, session):
    first = await WebSocket.open(session, target)
    await second_ws_refused(session, target, first.sid)
    await first.close()


# A poll that arrives during an upgrade is answered as soon as there is something to send:
# browsers start on polling and upgrade at once, so their CONNECT reply comes in such a poll.
# Node answers it at once; socketsvc used to hold it 100 ms (the upgrade's settle time).
FAST = 0.09


async def test_poll_during_upgrade_takes_what_is_waiting_at_once(target, session):
    c = await Polling.open(session, target)
    ws = await WebSocket.connect(session, target, sid=c.sid)  # upgrading, not yet probed
    await c.send("40")
    clock = Clock()
    got = await c.recv_until(lambda g: any(p.startswith("40") for p in g))
    assert clock.elapsed < FAST, clock.elapsed
    assert got[0].startswith("40")
    await ws.close()


async def test_poll_during_upgrade_is_answered_when_a_packet_comes(target, session):
    c = await open_connected(session, target)
    ws = await WebSocket.connect(session, target, sid=c.sid)
    clock = Clock()
    poll = asyncio.ensure_future(c.get())
    await asyncio.sleep(0.02)  # the poll reaches the server first, with nothing to take
    await c.send(sio_event("/", "message", "during"))
    assert await poll == (200, '42["message-back","during"]')
    assert clock.elapsed < FAST, clock.elapsed
    await ws.close()


async def test_an_unfinished_upgrade_ends_with_its_session(target, session):
    """The client closes over polling between the probe and the upgrade: the probe websocket
    is closed too, at once, not left open until its upgrade times out (10 s)."""
    c = await open_connected(session, target)
    ws = await WebSocket.connect(session, target, sid=c.sid)
    await ws.send("2probe")
    assert await ws.recv_raw() == "3probe"
    assert await c.post("1") == (200, "ok")
    assert await ws.wait_closed(within=2) == []


async def test_a_poll_before_the_probe_waits_for_something_to_send(target, session):
    """Only once the probe is answered do polls get a NOOP to make way for the websocket;
    before it a poll is an ordinary long-poll, answered by the next packet (here one that
    comes after the 100 ms the server gives an upgrade to settle)."""
    c = await open_connected(session, target)
    ws = await WebSocket.connect(session, target, sid=c.sid)  # upgrading, not yet probed
    poll = asyncio.ensure_future(c.get())
    await asyncio.sleep(0.2)  # the client's timing is the behaviour under test
    await c.send(sio_event("/", "message", "later"))
    # The 300 ms heartbeat may come first on a slow machine: a PING is a packet to send too,
    # so it is answered and polled past; a NOOP ("6") would be the bug.
    status, payload = await poll
    packets = [p for p in split_payload(payload) if p != "2"]
    while status == 200 and not packets:
        assert await c.post("3") == (200, "ok")
        status, payload = await c.get()
        packets = [p for p in split_payload(payload) if p != "2"]
    assert (status, packets) == (200, ['42["message-back","later"]'])
    await ws.close()
