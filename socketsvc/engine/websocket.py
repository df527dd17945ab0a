"""The websocket transport of an Engine.IO session.

While a client keeps up, ``EngineSession.enqueue`` writes frames straight to its transport (a
broadcast builds each frame once; frames of one event-loop turn leave in one write). A writer
task exists only while there is a backlog to drain with flow control, or a close to send, so an
idle connection holds no task. Incoming messages are handled where they are parsed when the
installed aiohttp allows it (direct.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeGuard

from aiohttp import WSMsgType, web

from ._aiohttp import write_transport
from .direct import Deferred, direct_queue
from .framing import ProtocolError, ws_frame
from .state import SessionState

# Above this many unsent bytes in the socket's write buffer, writes go through the writer task
# and aiohttp's flow control instead of straight to the transport.
WRITE_HIGH_WATER = 64 * 1024
# Node's default upgradeTimeout.
UPGRADE_TIMEOUT_SECONDS = 10.0


def can_write_now(transport: asyncio.WriteTransport | None) -> TypeGuard[asyncio.WriteTransport]:
    """Whether frames can go straight to ``transport``: open, and not backlogged."""
    return (
        transport is not None
        and not transport.is_closing()
        and transport.get_write_buffer_size() <= WRITE_HIGH_WATER
    )


def release_exception(ws: web.WebSocketResponse) -> None:
    """Drop the traceback of the exception a finished websocket keeps.

    When a client's connection ends, aiohttp's ``receive()`` closes the websocket, writing the
    close frame fails, and ``close()`` keeps that error (``ws.exception()``, chained to the
    end-of-stream one). Its traceback holds ``close()``'s frame, which holds the websocket: a
    reference cycle through the session, the request and the transport, some sixty objects
    per connection that only a full garbage collection frees, and the CLI collects the oldest
    generation rarely (app/tuning.py). Without the tracebacks, closing frees them at once."""
    exc: BaseException | None = ws.exception()
    for _ in range(8):  # the chain is short; a bound costs nothing
        if exc is None:
            return
        exc.__traceback__ = None
        exc = exc.__context__


def frames_of(items: list[Any]) -> bytes:
    """The websocket frames of buffered ``(type, data)`` packets, as one write."""
    return b"".join(ws_frame(ptype, data) for ptype, data in items)


class WebSocketTransport(SessionState):
    """The websocket half of ``EngineSession`` (upgrade, reader, writer)."""

    __slots__ = ()

    server: Any
    sid: str
    loop: asyncio.AbstractEventLoop
    buffer: list[Any]
    buffered_bytes: int
    connected: bool
    upgrading: bool
    upgraded: bool
    closing: bool
    closed: bool
    _ws: web.WebSocketResponse | None
    _ws_active: bool
    _ws_closing: bool
    _direct: asyncio.WriteTransport | None
    _writer_task: asyncio.Task[None] | None
    _pong_due: bool
    _poll_request: web.Request | None
    _probed: bool
    _upgrade_settled: asyncio.Event | None
    # provided by EngineSession
    _wake: Callable[[], None]
    _refresh_timeout_once: Callable[[], None]
    receive_raw: Callable[[str | bytes, bool], Awaitable[None]]
    close: Callable[..., Awaitable[None]]

    async def run_websocket(self, ws: web.WebSocketResponse, upgrade: bool) -> None:
        """Own a prepared websocket until it closes, reading it until then.

        With direct delivery, data messages never reach the loop here: the queue hands them
        over as they are parsed while this coroutine is parked on it; what comes here is what
        must be awaited in order. One coroutine frame for the connection's whole life: every
        frame left suspended is memory held per connection."""
        self._ws = ws
        if upgrade:
            if not await self._run_upgrade(ws):
                self._ws = None
                return
        else:
            self.connected = True
            self.upgraded = True
        self._ws_active = True
        queue = direct_queue(ws)
        if queue is not None:
            queue.deliver = self._deliver
        self._start_writing(ws)
        try:
            while not self.closed:
                if queue is not None:
                    queue.parked = True
                msg: Any = await ws.receive()
                if queue is not None:
                    queue.parked = False
                if type(msg) is Deferred:
                    pending: Awaitable[None] | None = msg.pending
                elif msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
                    pending = self._deliver(msg.data)
                else:  # CLOSE / CLOSING / CLOSED / ERROR
                    break
                if pending is None:
                    continue
                try:
                    await pending
                except ProtocolError as exc:
                    # Rule (Node "parse error"): an invalid packet closes it.
                    self.server.logger.info(
                        "%s: %s, closing", self.sid, exc, extra={"eio_sid": self.sid}
                    )
                    await self.close(
                        wait=False, abort=True, reason=self.server.reason.TRANSPORT_ERROR
                    )
                    break
                except Exception:  # the application's problem, not the transport's
                    self.server.logger.exception("%s: message handler error", self.sid)
        finally:
            if queue is not None:
                queue.deliver = None
                queue.parked = False
                queue.drop_deferred()
            if not self.closing:
                await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
            self._ws_closing = True
            self._direct = None
            self._wake()
            writer = self._writer_task
            if writer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer, UPGRADE_TIMEOUT_SECONDS)
            release_exception(ws)

    def _start_writing(self, ws: web.WebSocketResponse) -> None:
        """Send what was queued before the websocket took over (the OPEN packet, or what
        arrived during an upgrade) and switch to direct writes, without a writer task when
        the socket has room, as it normally has right after the handshake."""
        transport = write_transport(ws)
        if not can_write_now(transport) or self._writer_task is not None:
            self._wake()
            return
        if self.buffer:
            self.server.coalescer.write(transport, frames_of(self.buffer))
            self.buffer = []
            self.buffered_bytes = 0
        self._direct = transport

    async def _run_upgrade(self, ws: web.WebSocketResponse) -> bool:
        """Probe handshake: 2probe -> 3probe, pending poll gets NOOP, then 5."""
        self.upgrading = True
        self._upgrade_settled = asyncio.Event()
        ok = False
        try:
            async with asyncio.timeout(UPGRADE_TIMEOUT_SECONDS):
                msg = await ws.receive()
                if msg.type != WSMsgType.TEXT or msg.data != "2probe":
                    return False
                await ws.send_str("3probe")
                # Rule: the NOOP that ends the pending poll goes to that poll
                # only (never into the buffer that the websocket will flush).
                self._probed = True
                if self._poll_request is not None:
                    self._wake()
                msg = await ws.receive()
                if msg.type != WSMsgType.TEXT or msg.data != "5":
                    return False
            if self.closing or self.closed:
                return False
            ok = True
            self.upgraded = True
            # a poll still pending at this point is released with NOOP
            if self._poll_request is not None:
                self._wake()
            self.server.observer.transport_upgraded(self.sid)
            self.server.logger.info("%s: upgraded to websocket", self.sid)
            return True
        except (TimeoutError, ConnectionError):
            return False
        finally:
            self.upgrading = False
            self._probed = False
            self._upgrade_settled.set()
            if not ok:
                self.server.logger.info("%s: websocket upgrade failed", self.sid)
                with contextlib.suppress(Exception):
                    await ws.close()

    def _deliver(self, raw: str | bytes) -> Awaitable[None] | None:
        """Handle one websocket message as far as it goes without waiting; return the rest.

        The common case, a MESSAGE (binary frames carry no type byte), goes straight to the
        application's message handler, without the general packet dispatch."""
        if self.closed:
            return None
        traffic = self.server.traffic
        traffic.packets_in += 1
        traffic.bytes_in += len(raw)
        if type(raw) is str:
            if raw[:1] != "4":
                return self.receive_raw(raw, False)
            raw = raw[1:]
        if self._pong_due:  # a ping awaits its pong
            self._refresh_timeout_once()
        try:
            return self.server.deliver_message(self.sid, raw)  # type: ignore[no-any-return]
        except Exception:  # the application's problem, not the transport's
            self.server.logger.exception("%s: message handler error", self.sid)
            return None

    async def _ws_writer(self, ws: web.WebSocketResponse) -> None:
        """Drain the buffer (one write per batch while the client keeps up, flow-controlled
        writes once it falls behind), then either close the websocket or hand writing back
        to ``enqueue`` and end: an idle connection holds no task."""
        transport = write_transport(ws)
        try:
            while self.buffer:
                self._direct = None
                items = self.buffer
                self.buffer = []
                self.buffered_bytes = 0
                if can_write_now(transport):
                    transport.write(frames_of(items))
                    continue
                for ptype, data in items:
                    if isinstance(data, bytes):
                        # Rule (EIO4): binary frames carry no type byte.
                        await ws.send_bytes(data)
                    else:
                        await ws.send_str(str(ptype) + data if data else str(ptype))
            if not (self._ws_closing or ws.closed) and transport is not None:
                if not transport.is_closing():
                    self._direct = transport
                return
        except (ConnectionError, RuntimeError):
            pass
        finally:
            self._writer_task = None
        if not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
