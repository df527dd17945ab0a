"""Engine.IO v4 session (one per ``sid``) with Node-compatible transport rules.

Replaces the queue/poll/ping-task machinery of ``engineio.AsyncSocket``:

* outgoing packets go to a plain list buffer; whichever consumer is active (one
  pending long-polling GET or the single websocket writer task) is woken
  through one future, so sending a message creates no task;
* the heartbeat is two ``loop.call_later`` timers per session (next ping, pong
  deadline) instead of a sleeping task per ping plus a global monitor task.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import time
from typing import Any

from aiohttp import WSMsgType, web
from engineio import async_socket
from engineio import packet as eio_packet

OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP = range(7)

# Node's engine.io answers the poll that is pending when the probe completes at
# once, and any later poll during the upgrade after its 100 ms "check" tick.
UPGRADE_SETTLE_SECONDS = 0.1
# python-engineio clients refuse a polling payload of more than 16 packets ("Too many packets
# in payload"); the rest of a backlog goes out in the next poll, which follows at once.
MAX_PACKETS_PER_POLL = 16
# Above this many unsent bytes in the socket's write buffer, writes go through the writer task
# and aiohttp's flow control instead of straight to the transport.
WRITE_HIGH_WATER = 64 * 1024
# Node's default upgradeTimeout.
UPGRADE_TIMEOUT_SECONDS = 10.0

Item = tuple[int, Any]  # (packet type, str | bytes | None)


class ProtocolError(Exception):
    """The client sent something the Engine.IO v4 protocol forbids."""


def decode_packet(raw: str | bytes, polling: bool) -> Item:
    """Decode one Engine.IO v4 packet; raise ProtocolError if invalid.

    Rule (engine.io-parser v4 decodePacket): the first character is the packet
    type 0-6, the rest is the data verbatim (no JSON decoding); over polling a
    leading ``b`` marks a base64 binary MESSAGE; a websocket binary frame is a
    MESSAGE with no type byte.
    """
    if isinstance(raw, bytes | bytearray):
        return MESSAGE, bytes(raw)
    if not raw:
        raise ProtocolError("empty packet")
    first = raw[0]
    if first == "b" and polling:
        try:
            return MESSAGE, base64.b64decode(raw[1:], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError("invalid base64 packet") from exc
    ptype = ord(first) - 48
    if not 0 <= ptype <= 6:
        raise ProtocolError("unknown packet type")
    return ptype, raw[1:]


def ws_frame(ptype: int, data: str | bytes | None) -> bytes:
    """One unmasked server-to-client websocket frame (RFC 6455 5.2) carrying a packet.

    Rule (EIO4): a binary MESSAGE is a binary frame with no type byte; everything else is a
    text frame ``<type><data>``."""
    if isinstance(data, bytes):
        opcode, payload = 0x82, data
    else:
        opcode, payload = 0x81, (str(ptype) + data if data else str(ptype)).encode()
    size = len(payload)
    if size < 126:
        return bytes((opcode, size)) + payload
    if size < 65536:
        return bytes((opcode, 126)) + size.to_bytes(2, "big") + payload
    return bytes((opcode, 127)) + size.to_bytes(8, "big") + payload


class WriteCoalescer:
    """Frames for one transport written in the same event-loop turn go out in one write.

    A client that sends several events in one TCP segment gets all their acks in one
    segment, with one system call; order per transport is kept, and the flush runs before
    any task woken later in the same turn (callbacks run first in, first out)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: dict[asyncio.WriteTransport, list[bytes]] = {}

    def write(self, transport: asyncio.WriteTransport, frame: bytes) -> None:
        frames = self.pending.get(transport)
        if frames is not None:
            frames.append(frame)
            return
        if not self.pending:
            self.loop.call_soon(self.flush)
        self.pending[transport] = [frame]

    def flush(self) -> None:
        pending, self.pending = self.pending, {}
        for transport, frames in pending.items():
            if not transport.is_closing():
                transport.write(frames[0] if len(frames) == 1 else b"".join(frames))


def encode_text(item: Item) -> str:
    """Encode one packet for a text channel (polling payload or ws text)."""
    ptype, data = item
    if isinstance(data, bytes):
        return "b" + base64.b64encode(data).decode("ascii")
    return str(ptype) + data if data else str(ptype)


class EngineSocket(async_socket.AsyncSocket):  # type: ignore[misc]
    """One Engine.IO session. Drop-in for ``engineio.async_socket.AsyncSocket``."""

    # set by engineio's BaseSocket.__init__
    connected: bool
    upgrading: bool
    upgraded: bool
    closing: bool
    closed: bool

    def __init__(self, server: Any, sid: str) -> None:
        # Not BaseSocket.__init__: it builds an asyncio.Queue (about 3 KB) this class never
        # uses, for every connection. These are the attributes python-engineio's API reads.
        self.server = server
        self.sid = sid
        self.last_ping: float | None = None
        self.connected = False
        self.upgrading = False
        self.upgraded = False
        self.closing = False
        self.closed = False
        self.session: dict[str, Any] = {}
        self.loop = asyncio.get_running_loop()
        self.buffer: list[Item] = []
        self._waiter: asyncio.Future[None] | None = None
        self._poll_request: web.Request | None = None  # the pending long-poll GET
        self._probed = False
        self._upgrade_settled: asyncio.Event | None = None
        self._ws: web.WebSocketResponse | None = None
        self._ws_closing = False
        self._direct: asyncio.WriteTransport | None = None  # set while direct writes are safe
        self._ws_active = False  # the websocket carries the session (upgrade done)
        self._writer_task: asyncio.Task[None] | None = None
        self._send_close_on_flush = False  # polling: append CLOSE to the next poll
        self._finalize_handle: asyncio.TimerHandle | None = None
        self._ping_handle: asyncio.TimerHandle | None = None
        self._timeout_handle: asyncio.TimerHandle | None = None
        self._timeout_refreshed = False
        self._close_task: asyncio.Task[None] | None = None
        self._upgrade_close_task: asyncio.Future[bool] | None = None
        self.buffered_bytes = 0  # size of the payloads in self.buffer
        self.address: str | None = None  # counted by server.connection_limiter

    # ------------------------------------------------------------------ output
    async def send(self, pkt: eio_packet.Packet) -> None:
        """Queue an engineio ``Packet`` (python-socketio API)."""
        self.enqueue(pkt.packet_type, pkt.data)

    def enqueue(self, ptype: int, data: Any = None, frame: bytes | None = None) -> None:
        """Send one packet: written to the websocket at once when it is idle and keeping up,
        else buffered for the writer or the next poll. ``frame`` is the packet's websocket
        frame when the caller already built it (a broadcast builds it once for everyone)."""
        # Rule (Node sendPacket): nothing is sent once the session is closing.
        if self.closing or self.closed:
            return
        if data is not None and not isinstance(data, str | bytes):
            if isinstance(data, bytearray):
                data = bytes(data)
            else:
                data = eio_packet.Packet(ptype, data).encode()[1:]
        direct = self._direct
        if direct is not None and not self.buffer:
            if not direct.is_closing() and direct.get_write_buffer_size() <= WRITE_HIGH_WATER:
                self.server.coalescer.write(direct, frame or ws_frame(ptype, data))
                return
            self._direct = None  # backlogged: the writer task takes over, with flow control
        self.buffer.append((ptype, data))
        if data is not None:
            self.buffered_bytes += len(data)
            limit = self.server.max_buffer_bytes
            if limit and self.backlog() > limit:
                # A consumer that stopped reading must not grow memory without bound.
                self.server.logger.warning(
                    "%s: outgoing backlog over max_buffer_bytes (%d), closing slow consumer",
                    self.sid,
                    limit,
                )
                self.buffer = []
                self.buffered_bytes = 0
                self.close_soon(self.server.reason.TRANSPORT_ERROR, send_close=False)
                # a websocket writer may be stuck in drain(): cut the connection
                self.loop.call_soon(self._abort_network)
                return
        self._wake()

    def _network(self) -> asyncio.Transport | None:
        ws = self._ws
        writer = getattr(ws, "_writer", None) if ws is not None and self.upgraded else None
        transport: asyncio.Transport | None = getattr(writer, "transport", None)
        return transport

    def _abort_network(self) -> None:
        transport = self._network()
        if transport is not None:
            transport.abort()

    def backlog(self) -> int:
        """Bytes queued for this client and not yet taken by the network: the buffer plus,
        on websocket, the socket's unsent write buffer."""
        transport = self._network()
        unsent = transport.get_write_buffer_size() if transport is not None else 0
        return self.buffered_bytes + unsent

    def backlogged(self) -> bool:
        """Whether volatile messages should be dropped: over a quarter of the backlog limit."""
        limit = self.server.max_buffer_bytes
        return bool(limit) and self.backlog() > limit // 4

    def _wake(self) -> None:
        """Hand buffered packets (or a close) to whoever delivers them: the pending poll, or
        on websocket a writer task, which exists only while there is something to write."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        elif self._ws_active and self._writer_task is None and self._ws is not None:
            self._writer_task = self.loop.create_task(self._ws_writer(self._ws))

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

    # --------------------------------------------------------------- heartbeat
    def start_heartbeat(self) -> None:
        # Rule (EIO4 heartbeat): the server sends PING every pingInterval ...
        self._ping_handle = self.loop.call_later(self.server.ping_interval, self._ping_due)

    def _ping_due(self) -> None:
        self._ping_handle = None
        if self.closing or self.closed:
            return
        self.last_ping = time.time()
        self._timeout_refreshed = False
        self.enqueue(PING)
        # ... and closes the session if no PONG arrives within pingTimeout.
        self._timeout_handle = self.loop.call_later(self.server.ping_timeout, self._ping_timed_out)

    def _on_pong(self) -> None:
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()
            self._timeout_handle = None
        # Rule (Node pingIntervalTimer.refresh()): next ping pingInterval after the pong.
        if self._ping_handle is not None:
            self._ping_handle.cancel()
        self.start_heartbeat()

    def _refresh_timeout_once(self) -> None:
        # Rule (Node Socket.onPacket): any non-pong packet received while a pong
        # is awaited refreshes the pong deadline once per ping cycle.
        if self._timeout_handle is not None and not self._timeout_refreshed:
            self._timeout_refreshed = True
            self._timeout_handle.cancel()
            self._timeout_handle = self.loop.call_later(
                self.server.ping_timeout, self._ping_timed_out
            )

    def _ping_timed_out(self) -> None:
        self._timeout_handle = None
        self.server.logger.info("%s: pong timeout, closing session", self.sid)
        self.close_soon(self.server.reason.PING_TIMEOUT)

    def _cancel_timers(self) -> None:
        for handle in (self._ping_handle, self._timeout_handle):
            if handle is not None:
                handle.cancel()
        self._ping_handle = self._timeout_handle = None

    async def check_ping_timeout(self) -> bool:
        # The timers enforce the deadline eagerly; kept for API compatibility.
        return not self.closed

    def schedule_ping(self) -> None:  # API compatibility with AsyncSocket
        self._on_pong()

    # ----------------------------------------------------------------- closing
    def close_soon(self, reason: str, send_close: bool = True) -> None:
        """Start closing from synchronous code (timer callbacks)."""
        if self.closing or self.closed or self._close_task is not None:
            return
        self._close_task = asyncio.ensure_future(
            self.close(wait=False, abort=not send_close, reason=reason)
        )

    async def close(
        self, wait: bool = True, abort: bool = False, reason: str | None = None
    ) -> None:
        """Close the session.

        ``abort=False`` (server-initiated) delivers what is buffered plus a
        CLOSE packet; ``abort=True`` (client close) answers a pending poll with
        NOOP, like Node's polling transport ``onClose``.
        """
        if self.closing or self.closed:
            return
        reason = reason or self.server.reason.SERVER_DISCONNECT
        self.closing = True
        self._cancel_timers()
        if self.upgrading and self._ws is not None:
            # an unfinished upgrade dies with the session
            self._upgrade_close_task = asyncio.ensure_future(self._ws.close())
        linger = self._shutdown_transport(reason, abort)
        try:
            await self.server._trigger_event("disconnect", self.sid, reason, run_async=False)
        finally:
            self.closed = True
            if not linger:
                self._finalize()
            await self.release_address()

    async def release_address(self) -> None:
        """Give back this session's place in the per-address connection count (once)."""
        address, self.address = self.address, None
        if address is not None and self.server.connection_limiter is not None:
            await self.server.connection_limiter.release(address)

    def _shutdown_transport(self, reason: str, abort: bool) -> bool:
        """Stop the active transport; return True if the session must linger
        until a poll collects its CLOSE packet."""
        reasons = self.server.reason
        if self._ws is not None and (self.upgraded or not self.connected):
            # websocket: flush what is buffered, then a close frame (Node sends
            # no CLOSE packet over websocket). Buffered items are kept only for
            # a server-initiated close.
            if abort or reason != reasons.SERVER_DISCONNECT:
                self.buffer = []
                self.buffered_bytes = 0
            self._ws_closing = True
            self._direct = None
            self._wake()
            return False
        if not abort and reason == reasons.SERVER_DISCONNECT:
            # Node socket.close(): buffered packets, then CLOSE, are delivered
            # to the next poll(s); the session is dropped after one heartbeat
            # period if nobody polls.
            self._send_close_on_flush = True
            self._finalize_handle = self.loop.call_later(
                self.server.ping_interval + self.server.ping_timeout, self._finalize
            )
            self._wake()
            return True
        if self._poll_request is not None:
            # Rule: a pending poll is answered at once when the session closes:
            # NOOP for a client CLOSE, CLOSE otherwise (Node polling.doClose).
            self.buffer = [(NOOP, None)] if abort else [(CLOSE, None)]
            self._wake()
            return False
        self.buffer = []
        self.buffered_bytes = 0
        return False

    def forget(self) -> None:
        self._send_close_on_flush = False
        self._finalize()

    def _finalize(self) -> None:
        """Forget the session: later requests get 400 "Session ID unknown"."""
        self.closed = True
        if self._finalize_handle is not None:
            self._finalize_handle.cancel()
            self._finalize_handle = None
        if self.server.sockets.get(self.sid) is self:
            del self.server.sockets[self.sid]

    @property
    def lingering(self) -> bool:
        return self._send_close_on_flush

    # ----------------------------------------------------------------- input
    async def receive_raw(self, raw: str | bytes, polling: bool) -> None:
        """Decode and dispatch one packet; ProtocolError closes the session."""
        ptype, data = decode_packet(raw, polling)
        await self._dispatch(ptype, data)

    async def _dispatch(self, ptype: int, data: Any) -> None:
        if ptype == PONG:
            self._on_pong()
            return
        self._refresh_timeout_once()
        if ptype == MESSAGE:
            try:
                # Straight to the application's handler: engineio's _trigger_event wraps
                # every message in a closure and a coroutine-function check.
                await self.server.handlers["message"](self.sid, data)
            except Exception:  # the application's problem, not the transport's
                self.server.logger.exception("%s: message handler error", self.sid)
        elif ptype == CLOSE:
            await self.close(wait=False, abort=True, reason=self.server.reason.CLIENT_DISCONNECT)
        elif ptype == PING:
            # Rule (EIO4): only the server pings; Node closes on a client PING
            # ("invalid heartbeat direction").
            raise ProtocolError("invalid heartbeat direction")
        # OPEN / UPGRADE / NOOP outside an upgrade are ignored, as in Node.

    async def receive(self, pkt: eio_packet.Packet) -> None:  # API compatibility
        await self._dispatch(pkt.packet_type, pkt.data)

    # ------------------------------------------------------------ long-polling
    async def handle_poll(self, request: web.Request) -> list[Item] | None:
        """Serve a long-polling GET; None means 400 (the session is closed)."""
        if self.upgrading:
            # Rule: an HTTP request racing the upgrade must not be served after
            # it; wait (bounded) for the upgrade to settle before answering.
            settled = self._upgrade_settled
            if settled is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(settled.wait(), UPGRADE_SETTLE_SECONDS)
            if self.upgraded or self.closed or self.closing:
                return None
        if self._poll_request is not None:
            # Rule (Node onPollRequest "overlap from client"): a second
            # concurrent poll closes the session; the pending one gets CLOSE,
            # the duplicate gets 400.
            self.close_soon(self.server.reason.TRANSPORT_ERROR)
            return None
        if self.closed and not self._send_close_on_flush:
            return None
        if self.buffer or self._send_close_on_flush or self.closing:
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

    async def handle_post(self, body: str) -> None:
        """Process a long-polling POST payload (packets joined with \\x1e)."""
        for raw in body.split("\x1e"):
            if self.closing or self.closed:
                break
            await self.receive_raw(raw, polling=True)

    # --------------------------------------------------------------- websocket
    async def run_websocket(self, ws: web.WebSocketResponse, upgrade: bool) -> None:
        """Own a prepared websocket until it closes."""
        self._ws = ws
        if upgrade:
            if not await self._run_upgrade(ws):
                self._ws = None
                return
        else:
            self.connected = True
            self.upgraded = True
        self._ws_active = True
        self._wake()  # flush what was queued before the websocket took over
        try:
            await self._ws_reader(ws)
        finally:
            if not self.closing:
                await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
            self._ws_closing = True
            self._direct = None
            self._wake()
            writer = self._writer_task
            if writer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer, UPGRADE_TIMEOUT_SECONDS)

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

    async def _ws_reader(self, ws: web.WebSocketResponse) -> None:
        on_message = self.server.handlers["message"]
        while not self.closed:
            msg = await ws.receive()
            kind, raw = msg.type, msg.data
            if (kind is WSMsgType.TEXT and raw[:1] == "4") or kind is WSMsgType.BINARY:
                # The common case, a MESSAGE (binary frames carry no type byte), goes
                # straight to the application without the general packet dispatch.
                self._refresh_timeout_once()
                try:
                    await on_message(self.sid, raw[1:] if kind is WSMsgType.TEXT else raw)
                except Exception:  # the application's problem, not the transport's
                    self.server.logger.exception("%s: message handler error", self.sid)
                continue
            if kind == WSMsgType.TEXT:
                try:
                    await self.receive_raw(msg.data, polling=False)
                except ProtocolError as exc:
                    # Rule (Node "parse error"): an invalid packet closes it.
                    self.server.logger.info("%s: %s, closing", self.sid, exc)
                    await self.close(
                        wait=False, abort=True, reason=self.server.reason.TRANSPORT_ERROR
                    )
                    return
            else:  # CLOSE / CLOSING / CLOSED / ERROR
                return

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
                if (
                    transport is not None
                    and not transport.is_closing()
                    and transport.get_write_buffer_size() <= WRITE_HIGH_WATER
                ):
                    transport.write(b"".join(ws_frame(p, d) for p, d in items))
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
