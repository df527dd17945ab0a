"""The websocket transport of an Engine.IO session.

While a client keeps up, ``EngineSocket.enqueue`` writes frames straight to its transport (a
broadcast builds each frame once; frames of one event-loop turn leave in one write). A writer
task exists only while there is a backlog to drain with flow control, or a close to send, so an
idle connection holds no task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeGuard

from aiohttp import WSMsgType, web

from .framing import ProtocolError, ws_frame
from .inbox import Held, InboxResponse

# Above this many unsent bytes in the socket's write buffer, writes go through the writer task
# and aiohttp's flow control instead of straight to the transport.
WRITE_HIGH_WATER = 64 * 1024
# Node's default upgradeTimeout.
UPGRADE_TIMEOUT_SECONDS = 10.0


def has_room(transport: asyncio.WriteTransport | None) -> TypeGuard[asyncio.WriteTransport]:
    """Whether frames can go straight to ``transport``: open, and not backlogged."""
    return (
        transport is not None
        and not transport.is_closing()
        and transport.get_write_buffer_size() <= WRITE_HIGH_WATER
    )


def frames_of(items: list[Any]) -> bytes:
    """The websocket frames of buffered ``(type, data)`` packets, as one write."""
    return b"".join(ws_frame(ptype, data) for ptype, data in items)


class WriteCoalescer:
    """Frames for one transport written in the same event-loop turn go out in one write.

    A client that sends several events in one TCP segment gets all their acks in one
    segment, with one system call; order per transport is kept, and the flush runs before
    any task woken later in the same turn (callbacks run first in, first out).

    A broadcast is different: holding 1000 recipients' frames until the fan-out is done
    delays the first of them by the whole fan-out. ``write_now`` sends a transport's first
    frame of the turn at once and coalesces only what follows it in the same turn.
    """

    def __init__(self) -> None:
        self.pending: dict[asyncio.WriteTransport, list[bytes]] = {}
        self.written: set[asyncio.WriteTransport] = set()  # by write_now, this turn

    def write(self, transport: asyncio.WriteTransport, frame: bytes) -> None:
        frames = self.pending.get(transport)
        if frames is not None:
            frames.append(frame)
            return
        if not self.pending and not self.written:  # the turn's first: schedule the flush
            asyncio.get_running_loop().call_soon(self.flush)
        self.pending[transport] = [frame]

    def write_now(self, transport: asyncio.WriteTransport, frame: bytes) -> None:
        if transport in self.written or transport in self.pending:
            self.write(transport, frame)
            return
        if not self.pending and not self.written:
            asyncio.get_running_loop().call_soon(self.flush)
        transport.write(frame)
        self.written.add(transport)

    def flush(self) -> None:
        pending, self.pending = self.pending, {}
        self.written.clear()
        for transport, frames in pending.items():
            if not transport.is_closing():
                transport.write(frames[0] if len(frames) == 1 else b"".join(frames))


class WebSocketTransport:
    """The websocket half of ``EngineSocket`` (upgrade, reader, writer); polling lives there."""

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
    _poll_request: web.Request | None
    _probed: bool
    _upgrade_settled: asyncio.Event | None
    # provided by EngineSocket
    _wake: Callable[[], None]
    _refresh_timeout_once: Callable[[], None]
    receive_raw: Callable[[str | bytes, bool], Awaitable[None]]
    close: Callable[..., Awaitable[None]]

    async def run_websocket(self, ws: InboxResponse, upgrade: bool) -> None:
        """Own a prepared websocket until it closes, reading it until then.

        Data messages normally never reach the loop here: the ``Inbox`` handles them as they
        are parsed while this coroutine is parked on it; what comes here is what must be
        awaited in order (see inbox.py). One coroutine frame for the connection's whole life:
        every frame left suspended is memory held per connection."""
        self._ws = ws
        if upgrade:
            if not await self._run_upgrade(ws):
                self._ws = None
                return
        else:
            self.connected = True
            self.upgraded = True
        self._ws_active = True
        inbox = ws.inbox
        inbox.deliver = self._deliver
        self._start_writing(ws)
        try:
            while not self.closed:
                inbox.parked = True
                msg: Any = await ws.receive()
                inbox.parked = False
                if type(msg) is Held:
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
                    self.server.logger.info("%s: %s, closing", self.sid, exc)
                    await self.close(
                        wait=False, abort=True, reason=self.server.reason.TRANSPORT_ERROR
                    )
                    break
                except Exception:  # the application's problem, not the transport's
                    self.server.logger.exception("%s: message handler error", self.sid)
        finally:
            inbox.deliver = None
            inbox.parked = False
            inbox.drop_held()
            if not self.closing:
                await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
            self._ws_closing = True
            self._direct = None
            self._wake()
            writer = self._writer_task
            if writer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer, UPGRADE_TIMEOUT_SECONDS)

    def _start_writing(self, ws: web.WebSocketResponse) -> None:
        """Send what was queued before the websocket took over (the OPEN packet, or what
        arrived during an upgrade) and switch to direct writes, without a writer task when
        the socket has room, as it normally has right after the handshake."""
        transport: asyncio.WriteTransport | None = getattr(ws._writer, "transport", None)
        if not has_room(transport) or self._writer_task is not None:
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
        application's synchronous handler, without the general packet dispatch."""
        if self.closed:
            return None
        if type(raw) is str:
            if raw[:1] != "4":
                return self.receive_raw(raw, False)
            raw = raw[1:]
        self._refresh_timeout_once()
        try:
            return self.server.message_now(self.sid, raw)  # type: ignore[no-any-return]
        except Exception:  # the application's problem, not the transport's
            self.server.logger.exception("%s: message handler error", self.sid)
            return None

    async def _ws_writer(self, ws: web.WebSocketResponse) -> None:
        """Drain the buffer (one write per batch while the client keeps up, flow-controlled
        writes once it falls behind), then either close the websocket or hand writing back
        to ``enqueue`` and end: an idle connection holds no task."""
        transport: asyncio.WriteTransport | None = getattr(ws._writer, "transport", None)
        try:
            while self.buffer:
                self._direct = None
                items = self.buffer
                self.buffer = []
                self.buffered_bytes = 0
                if has_room(transport):
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
