"""Long-polling POSTs that overlap, break off or stall.

Node's engine.io takes one POST at a time per session: another one is answered 400 and the
session closes ("data request overlap from client"); a POST whose connection closes before
its body is complete closes the session ("data request connection closed prematurely"); a body
not received within ``httpRequestBodyTimeout`` is answered 408 and closes it. Both targets run
with a 300 ms body timeout (conftest).
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

from protocol_client import WAIT, Polling, sio_connect, sio_event
from test_eio_close import assert_session_gone


class HeldPost:
    """A POST to a polling session sent over a raw connection, its body only partly sent."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def start(cls, c: Polling, first: bytes, length: int) -> HeldPost:
        url = urlsplit(c.url)
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        head = (
            f"POST {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {length}\r\n\r\n"
        )
        writer.write(head.encode() + first)
        await writer.drain()
        return cls(reader, writer)

    async def send(self, more: bytes) -> None:
        self.writer.write(more)
        await self.writer.drain()

    async def status(self, within: float = WAIT) -> int | None:
        """The status of the server's answer, or None if it closed without one."""
        async with asyncio.timeout(within):
            line = await self.reader.readline()
        return int(line.split()[1]) if line else None

    async def abort(self) -> None:
        self.writer.transport.abort()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def test_overlapping_post_answered_400_and_closes_session(target, session):
    c = await Polling.open(session, target)
    await sio_connect(c)
    held = await HeldPost.start(c, b"4", 20)  # a message whose body never completes
    try:
        # Until the server has read the held POST's headers, another POST is no overlap:
        # retry (bounded) until it is one.
        for _ in range(10):
            status, _ = await c.post(sio_event("/", "message", "second"))
            if status != 200:
                break
        assert status == 400
        await assert_session_gone(session, target, c.sid)
    finally:
        await held.close()


async def test_aborted_post_closes_session_at_once(target, session):
    c = await Polling.open(session, target)
    await sio_connect(c)
    held = await HeldPost.start(c, b'42["mess', 30)
    await held.abort()
    # Closed when the server sees the connection go, not by a missed heartbeat later: the
    # next poll is refused (or, if it got there first, released with CLOSE). A session left
    # open would answer that poll with its next PING ("2") instead: no clock needed.
    status, text = await c.get()
    assert status == 400 or (status, text) == (200, "1"), (status, text)
    await assert_session_gone(session, target, c.sid)


async def test_stalled_post_body_answered_408(target, session):
    c = await Polling.open(session, target)
    held = await HeldPost.start(c, b"4", 20)
    try:
        assert await held.status() == 408
    finally:
        await held.close()
    await assert_session_gone(session, target, c.sid)


async def test_trickled_post_body_answered_408(target, session):
    c = await Polling.open(session, target)
    held = await HeldPost.start(c, b"4", 40)
    try:
        answer = asyncio.ensure_future(held.status())
        sent = 0
        for _ in range(30):  # a byte every 50 ms: never idle, never complete in time
            if answer.done():
                break
            await held.send(b"x")
            sent += 1
            await asyncio.sleep(0.05)
        assert await answer == 408
        # The body's deadline (300 ms) ended it while the trickle went on, five times over:
        # an idle timeout alone would have answered only after the last byte.
        assert sent < 30
    finally:
        await held.close()
