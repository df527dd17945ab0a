"""Engine.IO v4 heartbeat: server PINGs every pingInterval (300 ms), the
session is closed pingTimeout (200 ms) after an unanswered PING."""

from __future__ import annotations

import asyncio
import json

from protocol_client import (
    PING_INTERVAL,
    PING_TIMEOUT,
    Clock,
    Polling,
    WebSocket,
    eio_url,
    http,
    sio_connect,
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
