"""Engine.IO v4 heartbeat: server PINGs every pingInterval (300 ms), the
session is closed pingTimeout (200 ms) after an unanswered PING."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiohttp
from protocol_client import (
    PING_INTERVAL,
    PING_TIMEOUT,
    Clock,
    Polling,
    WebSocket,
    eio_url,
    http,
    sio_connect,
    sio_event,
)

SLACK = 0.25  # scheduling + HTTP round trips on a loaded 2-core box


async def test_polling_pings_at_interval(target, session):
    c = await Polling.open(session, target)
    await sio_connect(c)  # a namespace keeps Node's connectTimeout away
    for cycle in range(3):
        clock = Clock()
        status, text = await c.get()
        assert (status, text) == (200, "2")
        if cycle:
            assert PING_INTERVAL - 0.1 <= clock.elapsed <= PING_INTERVAL + SLACK
        await c.send("3")


async def test_websocket_pings_at_interval(target, session):
    c = await WebSocket.open(session, target)
    await sio_connect(c)
    for cycle in range(3):
        clock = Clock()
        assert await c.recv_raw() == "2"
        if cycle:
            assert PING_INTERVAL - 0.1 <= clock.elapsed <= PING_INTERVAL + SLACK
        await c.send("3")
    await c.close()


async def test_polling_missed_pong_answers_pending_poll_with_close(target, session):
    c = await Polling.open(session, target)
    await sio_connect(c)
    status, text = await c.get()
    assert (status, text) == (200, "2")
    clock = Clock()  # PING was sent at most a round trip ago; no PONG follows
    status, text = await c.get()
    assert (status, text) == (200, "1")
    assert clock.elapsed <= PING_TIMEOUT + SLACK
    status, text = await c.get()
    assert status == 400
    assert json.loads(text)["code"] == 1


async def test_polling_idle_session_closed_at_deadline(target, session):
    # The client never polls, so it never sees the PING: the session must be
    # gone pingInterval + pingTimeout after the handshake, not closed lazily
    # when the next request shows up.
    clock = Clock()
    c = await Polling.open(session, target)
    # deliberate idle period (the behaviour under test), not synchronisation
    await asyncio.sleep(PING_INTERVAL + PING_TIMEOUT + 0.15 - clock.elapsed)
    status, text = await http(session, "GET", c.url)
    assert status == 400
    assert json.loads(text) == {"code": 1, "message": "Session ID unknown"}


async def test_polling_pong_keeps_session_alive(target, session):
    c = await Polling.open(session, target)
    await sio_connect(c)
    clock = Clock()
    while clock.elapsed < 2 * (PING_INTERVAL + PING_TIMEOUT):
        status, text = await c.get()
        assert status == 200
        if text == "2":
            await c.send("3")
    status, text = await http(session, "POST", c.url, data='42["message","alive"]')
    assert (status, text) == (200, "ok")


async def test_websocket_missed_pong_closes(target, session):
    c = await WebSocket.open(session, target)
    await sio_connect(c)
    c.auto_pong = False
    assert await c.recv_raw() == "2"
    clock = Clock()
    frames = await c.wait_closed(within=PING_TIMEOUT + 1.0)
    assert frames in ([], ["1"])
    assert clock.elapsed <= PING_TIMEOUT + SLACK
    status, _ = await http(session, "GET", eio_url(target, EIO=4, transport="polling", sid=c.sid))
    assert status == 400


async def test_packets_while_a_pong_is_awaited_extend_its_deadline_once(target, session):
    """A packet other than PONG received while a PONG is awaited refreshes the deadline, once
    per PING (Node Socket.onPacket, hasRefreshedPingTimeout): a client that keeps sending
    messages but never answers the PING is still closed, at most 2 x pingTimeout after it."""
    c = await WebSocket.open(session, target)
    await sio_connect(c)
    c.auto_pong = False
    assert await c.recv_raw() == "2"
    clock = Clock()

    async def keep_sending() -> None:
        for _ in range(40):  # one message every 50 ms, 2 s at most: well past 2 x pingTimeout
            if c.ws.closed:
                return
            with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                await c.send(sio_event("/", "message", "busy"))
            await asyncio.sleep(0.05)  # the client's pace (the behaviour under test)

    sender = asyncio.ensure_future(keep_sending())
    try:
        await c.wait_closed(within=2.5)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    assert clock.elapsed <= 2 * PING_TIMEOUT + SLACK


async def test_unsolicited_pongs_push_the_next_ping_back(target, session):
    """A PONG restarts the ping interval (Node pingIntervalTimer.refresh()), also one that
    answers no PING: a client that sends one every 100 ms is not pinged (once at most, should
    this loaded machine hold the client up for a whole interval), and no timer is left over to
    ping it again and again."""
    c = await WebSocket.open(session, target)
    await sio_connect(c)
    c.auto_pong = False
    received: list[Any] = []

    async def read() -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                received.append(await c.recv_raw(within=5))

    reader = asyncio.ensure_future(read())
    try:
        for _ in range(8):  # 8 x 100 ms: more than 2 x pingInterval
            await c.send("3")
            await asyncio.sleep(0.1)  # the client's pace (the behaviour under test)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    assert received.count("2") <= 1, received
    await c.close()


async def test_a_ping_from_the_client_closes_the_session(target, session):
    """Only the server pings in Engine.IO v4 (Node: "invalid heartbeat direction")."""
    ws = await WebSocket.open(session, target)
    await sio_connect(ws)
    await ws.send("2")
    assert await ws.wait_closed() == []
    polling = await Polling.open(session, target)
    await sio_connect(polling)
    with contextlib.suppress(aiohttp.ClientError):
        await polling.post("2")  # answered 400 (socketsvc) or ok (Node): the session ends
    status, _ = await http(session, "GET", polling.url)
    assert status == 400
