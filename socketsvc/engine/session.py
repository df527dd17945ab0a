"""One Engine.IO v4 session (one per ``sid``) with Node-compatible transport rules.

Replaces python-engineio's ``AsyncSocket`` (this class does not inherit from it, so none of
its queue-based methods can be reached by mistake); python-engineio's server needs only
``closed``, ``upgraded``, ``session``, ``send`` and ``close`` of it:

* outgoing packets go straight to the websocket (see ``websocket.py``) or to a plain
  list buffer that the pending long-polling GET (``polling.py``) or a websocket writer task,
  while a client has a backlog, takes; sending a message creates no task;
* the heartbeat is two timers per session (next ping, pong deadline) in the server's timer
  lists (``timers.py``), instead of a sleeping task per ping plus a global monitor task.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from engineio import packet as eio_packet

from ._aiohttp import write_transport
from .framing import CLOSE, MESSAGE, NOOP, PING, PONG, Item, ProtocolError, decode_packet, ws_frame
from .polling import PollingTransport
from .websocket import WRITE_HIGH_WATER, WebSocketTransport, can_write_now


class EngineSession(WebSocketTransport, PollingTransport):
    """One Engine.IO session, over long-polling, websocket, or polling then websocket."""

    __slots__ = ()

    def __init__(self, server: Any, sid: str) -> None:
        self.server = server
        self.sid = sid
        self.connected = False
        self.upgrading = False
        self.upgraded = False
        self.closing = False
        self.closed = False
        self._session: dict[str, Any] | None = None  # see ``session``
        self.loop = asyncio.get_running_loop()
        self.buffer: list[Item] = []
        self._waiter: asyncio.Future[None] | None = None
        self._poll_request: web.Request | None = None  # the pending long-poll GET
        self.receiving = False  # a POST is being read or handled (one at a time)
        self._probed = False
        self._upgrade_settled: asyncio.Event | None = None
        self._ws: web.WebSocketResponse | None = None
        self._ws_closing = False
        self._direct: asyncio.WriteTransport | None = None  # set while direct writes are safe
        self._ws_active = False  # the websocket carries the session (upgrade done)
        self._writer_task: asyncio.Task[None] | None = None
        self._send_close_on_flush = False  # polling: append CLOSE to the next poll
        self._finalize_handle: asyncio.TimerHandle | None = None
        self._pong_due = False  # a PING is out and its pong deadline runs
        self._timeout_refreshed = False
        self._close_task: asyncio.Task[None] | None = None
        self._upgrade_close_task: asyncio.Future[bool] | None = None
        self.buffered_bytes = 0  # size of the payloads in self.buffer
        self.address: str | None = None  # counted by the policy's connection counter

    @property
    def session(self) -> dict[str, Any]:
        """python-engineio's per-session user data (python-socketio's ``save_session``),
        created when first used: most connections never use it."""
        session = self._session
        if session is None:
            session = self._session = {}
        return session

    @session.setter
    def session(self, value: dict[str, Any]) -> None:
        self._session = value

    # ------------------------------------------------------------------ output
    async def send(self, pkt: eio_packet.Packet) -> None:
        """Queue an engineio ``Packet`` (python-socketio API)."""
        self.enqueue(pkt.packet_type, pkt.data)

    def push_message(self, data: str | bytes) -> None:
        """Send one MESSAGE: the common case of :meth:`enqueue`, in a few steps. While the
        websocket keeps up it is the only transport, is not closing, and has nothing
        buffered (``_direct`` is set only then), so the frame goes straight out."""
        direct = self._direct
        if (
            direct is not None
            and not direct.is_closing()
            and direct.get_write_buffer_size() <= WRITE_HIGH_WATER
        ):
            self.server.coalescer.write(direct, ws_frame(MESSAGE, data))
        else:
            self.enqueue(MESSAGE, data)

    def enqueue(
        self, ptype: int, data: Any = None, frame: bytes | None = None, now: bool = False
    ) -> None:
        """Send one packet: written to the websocket in this event-loop turn when it is idle
        and keeping up, else buffered for the writer or the next poll. ``frame`` is the
        packet's websocket frame when the caller already built it (a broadcast builds it once
        for everyone); ``now`` skips coalescing for the turn's first frame (see
        ``WriteCoalescer``)."""
        # Rule (Node sendPacket): nothing is sent once the session is closing.
        if self.closing or self.closed:
            return
        if data is not None and not isinstance(data, (str, bytes)):
            if isinstance(data, bytearray):
                data = bytes(data)
            else:
                data = eio_packet.Packet(ptype, data).encode()[1:]
        direct = self._direct
        if direct is not None and not self.buffer:
            if can_write_now(direct):
                coalescer = self.server.coalescer
                (coalescer.write_now if now else coalescer.write)(
                    direct, frame or ws_frame(ptype, data)
                )
                return
            self._direct = None  # backlogged: the writer task takes over, with flow control
        self.buffer.append((ptype, data))
        if data is not None:
            self.buffered_bytes += len(data)
            limit = self.server.policy.max_buffer_bytes
            if limit and self.backlog() > limit:
                # A consumer that stopped reading must not grow memory without bound.
                self.buffer = []
                self.buffered_bytes = 0
                if self._close_task is None:  # once: later sends this turn find it closing
                    self._cut_slow_consumer(limit)
                return
        self._wake()

    def _cut_slow_consumer(self, limit: int) -> None:
        self.server.logger.warning(
            "%s: outgoing backlog over max_buffer_bytes (%d), closing slow consumer",
            self.sid,
            limit,
            extra={"eio_sid": self.sid, "client": self.address},
        )
        self.server.observer.slow_consumer_cut(self.sid)
        self.close_soon(self.server.reason.TRANSPORT_ERROR, send_close=False)
        # a websocket writer may be stuck in drain(): cut the connection
        self.loop.call_soon(self._abort_network)

    def _network(self) -> asyncio.WriteTransport | None:
        ws = self._ws
        return write_transport(ws) if ws is not None and self.upgraded else None

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
        limit = self.server.policy.max_buffer_bytes
        return bool(limit) and self.backlog() > limit // 4

    def _wake(self) -> None:
        """Hand buffered packets (or a close) to whoever delivers them: the pending poll, or
        on websocket a writer task, which exists only while there is something to write."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        elif self._ws_active and self._writer_task is None and self._ws is not None:
            self._writer_task = self.loop.create_task(self._ws_writer(self._ws))

    # --------------------------------------------------------------- heartbeat
    # The timers are the server's: one list per delay for all sessions (engine/timers.py).
    def start_heartbeat(self) -> None:
        # Rule (EIO4 heartbeat): the server sends PING every pingInterval ...
        self.server.ping_timers.arm(self.sid)

    def ping_due(self) -> None:
        if self.closing or self.closed:
            return
        self._timeout_refreshed = False
        self.enqueue(PING)
        # ... and closes the session if no PONG arrives within pingTimeout.
        self._pong_due = True
        self.server.pong_timers.arm(self.sid)

    def _on_pong(self) -> None:
        server = self.server
        if self._pong_due:
            self._pong_due = False
            server.pong_timers.cancel(self.sid)
        # Rule (Node pingIntervalTimer.refresh()): next ping pingInterval after the pong.
        server.ping_timers.arm(self.sid)

    def _refresh_timeout_once(self) -> None:
        # Rule (Node Socket.onPacket): any non-pong packet received while a pong
        # is awaited refreshes the pong deadline once per ping cycle.
        if self._pong_due and not self._timeout_refreshed:
            self._timeout_refreshed = True
            self.server.pong_timers.arm(self.sid)

    def pong_missed(self) -> None:
        self._pong_due = False
        self.server.logger.info(
            "%s: pong timeout, closing session", self.sid, extra={"eio_sid": self.sid}
        )
        self.close_soon(self.server.reason.PING_TIMEOUT)

    def _cancel_timers(self) -> None:
        server = self.server
        server.ping_timers.cancel(self.sid)
        if self._pong_due:
            self._pong_due = False
            server.pong_timers.cancel(self.sid)

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
        self.server.observer.transport_closed(self.sid, reason)
        self._cancel_timers()
        if self.upgrading and self._ws is not None:
            # an unfinished upgrade dies with the session
            self._upgrade_close_task = asyncio.ensure_future(self._ws.close())
        linger = self._shutdown_transport(reason, abort)
        try:
            await self.server.call_handler("disconnect", self.sid, reason)
        finally:
            self.closed = True
            if not linger:
                self._finalize()
            await self.release_address()

    async def release_address(self) -> None:
        """Give back this session's place in the per-address connection count (once)."""
        address, self.address = self.address, None
        connections = self.server.policy.connections
        if address is not None and connections is not None:
            await connections.release(address)

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
                # Straight to the application's message handler: python-engineio's event
                # dispatch wraps every message in a closure and a coroutine-function check.
                pending = self.server.deliver_message(self.sid, data)
                if pending is not None:
                    await pending
            except Exception:  # the application's problem, not the transport's
                self.server.logger.exception(
                    "%s: message handler error", self.sid, extra={"eio_sid": self.sid}
                )
        elif ptype == CLOSE:
            await self.close(wait=False, abort=True, reason=self.server.reason.CLIENT_DISCONNECT)
        elif ptype == PING:
            # Rule (EIO4): only the server pings; Node closes on a client PING
            # ("invalid heartbeat direction").
            raise ProtocolError("invalid heartbeat direction")
        # OPEN / UPGRADE / NOOP outside an upgrade are ignored, as in Node.
