"""The long-polling transport of an Engine.IO session: GET takes what is buffered (or waits
for it), POST carries the client's packets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .framing import CLOSE, NOOP, Item, ProtocolError
from .responses import BAD_REQUEST, error, ok_post, refusal
from .state import SessionState

# Node's engine.io answers the poll that is pending when the probe completes at
# once, and any later poll during the upgrade after its 100 ms "check" tick; a poll with
# something to send is answered at once.
UPGRADE_SETTLE_SECONDS = 0.1
# python-engineio clients refuse a polling payload of more than 16 packets ("Too many packets
# in payload"); the rest of a backlog goes out in the next poll, which follows at once.
MAX_PACKETS_PER_POLL = 16


class BodyIncomplete(Exception):
    """A POST body did not arrive whole: its connection closed, or it was malformed."""


async def read_body(stream: Any, limit: int) -> bytearray | None:
    """A request body, or None once it grows past ``limit`` bytes (at most one chunk more is
    read). One growing buffer: a body sent in many small pieces costs no more than its size.
    Raises :class:`BodyIncomplete` when the connection ends before the body does."""
    body = bytearray()
    try:
        while chunk := await stream.readany():
            body += chunk
            if len(body) > limit:
                return None
    except (ConnectionError, HttpProcessingError) as exc:
        raise BodyIncomplete(type(exc).__name__) from None
    return body


class PollingTransport(SessionState):
    """The long-polling half of ``EngineSession``."""

    __slots__ = ()

    server: Any
    loop: asyncio.AbstractEventLoop
    buffer: list[Item]
    buffered_bytes: int
    upgrading: bool
    upgraded: bool
    closing: bool
    closed: bool
    sid: str
    receiving: bool
    _waiter: asyncio.Future[None] | None
    _poll_request: web.Request | None
    _probed: bool
    _upgrade_settled: asyncio.Event | None
    _send_close_on_flush: bool
    # provided by EngineSession
    _finalize: Callable[[], None]
    close_soon: Callable[..., None]
    receive_raw: Callable[..., Awaitable[None]]
    close: Callable[..., Awaitable[None]]

    def _take_payload(self) -> list[Item]:
        items = self.buffer[:MAX_PACKETS_PER_POLL]
        self.buffer = self.buffer[MAX_PACKETS_PER_POLL:]
        self.buffered_bytes = sum(len(d) for _, d in self.buffer if d is not None)
        if self._send_close_on_flush and not items:
            # Rule (Node socket.close() waits for "drain"): the CLOSE of a
            # server-initiated close goes in a poll of its own, after the
            # buffered packets; the JS client handles Socket.IO packets on the
            # next tick, so a CLOSE in the same payload would overtake them.
            self._send_close_on_flush = False
            items = [(CLOSE, None)]
            self._finalize()
        return items

    async def handle_poll(self, request: web.Request) -> list[Item] | None:
        """Serve a long-polling GET; None means 400 (the session is closed)."""
        if self.upgrading and not (self.buffer or self._send_close_on_flush):
            # Rule: an HTTP request racing the upgrade must not be served after it. With
            # nothing to send yet, the poll gives an upgrade about to complete a moment
            # (bounded) to settle; what is queued meanwhile ends the wait at once. A poll
            # with something to send is answered at once, as Node's is: a browser starts on
            # polling and upgrades at once, and its CONNECT reply comes in such a poll.
            await self._settle_or_output()
            if self.upgraded:
                return None  # a closing session is answered below, like any other
        if self._poll_request is not None:
            # Rule (Node onPollRequest "overlap from client"): a second
            # concurrent poll closes the session; the pending one gets CLOSE,
            # the duplicate gets 400.
            self.close_soon(self.server.reason.TRANSPORT_ERROR)
            return None
        if (self.closed or self.closing) and not (self.buffer or self._send_close_on_flush):
            return None  # being dropped, with nothing left to deliver: 400, as Node answers
        if self.buffer or self._send_close_on_flush:
            return self._take_payload() or [(NOOP, None)]
        if self.upgrading and self._probed:
            return [(NOOP, None)]
        waiter = self.loop.create_future()
        self._waiter = waiter
        self._poll_request = request
        try:
            await waiter
        finally:
            if self._waiter is waiter:
                self._waiter = None
            self._poll_request = None
        if self.upgraded:
            # released by a completed upgrade: the buffer belongs to the websocket
            return [(NOOP, None)]
        transport = request.transport
        if (transport is None or transport.is_closing()) and not self.closing:
            # Rule (Node "poll connection closed prematurely"): the client went
            # away; keep the packets out of a dead response and close.
            await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
            return None
        return self._take_payload() or [(NOOP, None)]

    async def _settle_or_output(self) -> None:
        """Wait until the upgrade settles or a packet is queued, at most the settle time."""
        waiter = self._waiter = self.loop.create_future()  # what ``_wake`` resolves
        settled = self._upgrade_settled
        settling = asyncio.ensure_future(settled.wait()) if settled is not None else waiter
        try:
            await asyncio.wait(
                (waiter, settling),
                timeout=UPGRADE_SETTLE_SECONDS,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            settling.cancel()
            if self._waiter is waiter:
                self._waiter = None

    async def handle_post(self, body: str) -> None:
        """Process a long-polling POST payload (packets joined with \\x1e)."""
        for raw in body.split("\x1e"):
            if self.closing or self.closed:
                break
            await self.receive_raw(raw, polling=True)

    async def receive_post(self, request: web.Request) -> Any:
        """A long-polling POST: its body read within the limits, its packets handled; the
        answer to send (``ok``, or the refusal that closes the session)."""
        s, server = self, self.server
        if s.receiving:
            # Rule (Node onDataRequest "data request overlap from client"): one POST at a
            # time per session (each buffers up to max_payload); another is answered 400 and
            # the session closes.
            server.logger.warning("%s: overlapping POST, closing the session", s.sid)
            s.close_soon(server.reason.TRANSPORT_ERROR)
            return error(BAD_REQUEST)
        limit = server.max_http_buffer_size
        if request.content_length is not None and request.content_length > limit:
            return s._refuse_post("413 PAYLOAD TOO LARGE")
        s.receiving = True
        received = False
        try:
            async with asyncio.timeout(server.policy.body_timeout or None):
                body = await read_body(request.content, limit)
            received = True
            if body is None:
                return s._refuse_post("413 PAYLOAD TOO LARGE")
            try:
                # Handled before "ok": a client sends its next POST only after this one.
                text = body.decode("utf-8")
                server.traffic.packets_in += text.count("\x1e") + 1
                server.traffic.bytes_in += len(body)
                await s.handle_post(text)
            except (ProtocolError, UnicodeDecodeError) as exc:
                # Rule (Node "parse error"): an invalid packet closes the session;
                # the POST is answered 400 instead of being logged and ignored.
                # (the text, not the exception: it holds the body and, by its traceback,
                # the session, for as long as any log handler keeps the record)
                server.logger.info(
                    "%s: invalid payload (%s), closing", s.sid, str(exc), extra={"eio_sid": s.sid}
                )
                await s.close(wait=False, abort=False, reason=server.reason.TRANSPORT_ERROR)
                return error(BAD_REQUEST)
            return ok_post()
        except TimeoutError:
            # Rule (engine.io httpRequestBodyTimeout): 408, and the session closes.
            server.logger.warning("%s: POST body not in within body_timeout, closing", s.sid)
            return s._refuse_post("408 REQUEST TIMEOUT")
        except BodyIncomplete as exc:
            # Rule (Node "data request connection closed prematurely"): the session closes.
            server.logger.info("%s: POST broken off before its body was complete (%s)", s.sid, exc)
            return s._refuse_post("400 BAD REQUEST")
        finally:
            s.receiving = False
            if not received:  # also when the handler is cancelled: the client went away
                s.close_soon(server.reason.TRANSPORT_ERROR)

    def _refuse_post(self, status: str) -> dict[str, Any]:
        """Close the session, and the connection once the answer is written (what is left of
        the body is not worth reading)."""
        self.close_soon(self.server.reason.TRANSPORT_ERROR)
        return refusal(status)
