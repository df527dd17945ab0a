"""Engine.IO v4 session close: client CLOSE, server forced close, duplicate
polls, invalid packets, oversized payloads."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
from protocol_client import (
    PING_INTERVAL,
    WAIT,
    Clock,
    Polling,
    WebSocket,
    eio_url,
    http,
    sio_connect,
    sio_event,
    split_payload,
)


async def assert_session_gone(session, target, sid) -> None:
    status, text = await http(session, "GET", eio_url(target, EIO=4, transport="polling", sid=sid))
    assert status == 400
    assert json.loads(text)["code"] in (1, 3)


async def test_polling_client_close_answers_pending_poll(target):
    # the CLOSE is sent once the GET's request is out
    http_session, poll_sent = traced_poll_session()
    async with http_session as session:
        c = await Polling.open(session, target)
        clock = Clock()
        poll = asyncio.ensure_future(c.get())
        await asyncio.wait_for(poll_sent.wait(), WAIT)
        status, text = await c.post("1")
        assert (status, text) == (200, "ok")
        status, text = await poll
        # answered at once (well before the first PING would have been due), and with NOOP:
        # a client's own CLOSE is not echoed
        assert clock.elapsed < PING_INTERVAL
        assert (status, text) == (200, "6")
        await assert_session_gone(session, target, c.sid)


async def test_websocket_client_close(target, session):
    c = await WebSocket.open(session, target)
    await c.send("1")
    assert await c.wait_closed() == []
    await assert_session_gone(session, target, c.sid)


async def test_polling_server_forced_close(target, session):
    c = await Polling.open(session, target)
    await sio_connect(c)
    await c.send(sio_event("/", "force-close"))
    seen: list[str] = []
    async with asyncio.timeout(WAIT):
        for _ in range(20):
            status, text = await c.get()
            if status != 200:
                break
            packets = [p for p in split_payload(text) if p != "6"]
            # CLOSE must not share a payload with the DISCONNECT: the JS client
            # handles Socket.IO packets on the next tick, so it would report
            # "transport close" instead of "io server disconnect"
            assert not ("41" in packets and "1" in packets), text
            seen += packets
            if "1" in seen:
                break
    assert seen[:1] == ["41"]
    assert seen[-1:] == ["1"]
    await assert_session_gone(session, target, c.sid)


async def test_websocket_server_forced_close(target, session):
    c = await WebSocket.open(session, target)
    await sio_connect(c)
    await c.send(sio_event("/", "force-close"))
    frames = await c.wait_closed()
    assert frames[:1] == ["41"]
    assert frames[1:] in ([], ["1"])


async def test_polling_duplicate_poll_closes_session(target, session):
    c = await Polling.open(session, target)
    first, second = await asyncio.gather(c.get(), c.get())
    # whichever arrived first was pending and gets CLOSE, the other gets 400
    results = sorted([first, second])
    assert results[0] == (200, "1")
    assert results[1][0] == 400
    await assert_session_gone(session, target, c.sid)


async def test_polling_invalid_packet_closes_session(target, session):
    c = await Polling.open(session, target)
    try:
        status, _ = await c.post("abc")
        # The protocol test-suite wants 400. Node 4.8 closes the session but
        # still answers this POST 200 "ok" (or destroys the request).
        assert status == 400 or (target.name == "node" and status == 200)
    except aiohttp.ClientError:
        pass
    await assert_session_gone(session, target, c.sid)


def traced_poll_session() -> tuple[aiohttp.ClientSession, asyncio.Event]:
    """A client session that sets the event once a poll's (GET with a sid) request is out."""
    poll_sent = asyncio.Event()

    async def sent(session, context, params):  # aiohttp trace hook
        if params.method == "GET" and "sid=" in str(params.url):
            poll_sent.set()

    tracing = aiohttp.TraceConfig()
    tracing.on_request_headers_sent.append(sent)
    return aiohttp.ClientSession(trace_configs=[tracing]), poll_sent


async def test_polling_invalid_packet_answers_pending_poll(target):
    http_session, poll_sent = traced_poll_session()
    async with http_session as session:
        c = await Polling.open(session, target)
        await sio_connect(c)
        poll_sent.clear()
        poll = asyncio.ensure_future(c.get())
        await asyncio.wait_for(poll_sent.wait(), WAIT)
        with contextlib.suppress(aiohttp.ClientError):
            await c.post("abc")
        # the pending poll is told the session closed (not a NOOP, as for a client's CLOSE)
        assert await poll == (200, "1")
        await assert_session_gone(session, target, c.sid)


async def test_websocket_invalid_packet_closes(target, session):
    c = await WebSocket.open(session, target)
    await c.send("abc")
    assert await c.wait_closed() == []


async def test_polling_payload_too_large(target, session):
    c = await Polling.open(session, target)
    try:
        status, _ = await c.post("4" + "x" * 1_000_001)
        assert status == 413
    except aiohttp.ClientError:
        pass
    await assert_session_gone(session, target, c.sid)


async def test_polling_packets_after_a_close_in_one_post_are_ignored(target, session):
    """What follows a CLOSE in the same POST is not handled: even a client PING (which would
    close the session as a protocol error) leaves the POST answered ok."""
    c = await Polling.open(session, target)
    await sio_connect(c)
    assert await c.post("1", "2", sio_event("/", "message", "after")) == (200, "ok")
    await assert_session_gone(session, target, c.sid)
