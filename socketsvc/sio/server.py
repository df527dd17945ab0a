"""SocketServer: python-socketio's ``AsyncServer`` made strict where stock clients need it.

What changes against stock python-socketio 5.18, and why:

- Every handler call runs in an asyncio Task of its own (tasks.py), started eagerly on 3.12+.
- Each connection speaks its own wire format (reader.py); every packet is encoded in its
  recipient's format, a broadcast once per format (fanout.py).
- An invalid packet closes that client's transport, as the Node reference server does, instead
  of being logged and ignored (which leaves clients waiting for acks that never come).
- Unknown namespaces are refused with ``{"message": "Invalid namespace"}``, which the JS client
  shows as ``connect_error``; stock sends a bare string the client reads as an empty message.
- ``after_connect`` runs once the client knows it is connected, so emits made there arrive
  after the CONNECT packet (stock has only ``on_connect``, which runs before it).
- The connect handler always receives an ``auth`` dict, and a crash inside it refuses the
  connection with ``internal`` instead of leaving the client without an answer.
- Pattern namespaces (``/team/*``) get one handler instance per concrete namespace, released
  through ``on_release`` (namespaces.py).
- Handlers see each connection's handshake (headers, query, auth, client address after
  trusted proxies) through ``self.handshake(sid)``.
- A transport that joins no namespace within ``connect_timeout`` is closed.
- Connection-state recovery (recovery.py, sessions.py): a client that drops and comes back
  within its namespace's window gets its sid, rooms, session data and the packets it missed.
- A token's lifetime holds on a live connection (tokens.py): ``auth:expiring`` before its
  ``exp``, a disconnect after it, ``auth:refresh`` to carry on with a new token; connections
  can be closed by subject, sid or room on every node (:meth:`SocketServer.disconnect_clients`).

The connect, disconnect and ack flows are python-socketio's own (``base_*`` in _socketio.py);
this class adds the checks around them, the namespace ones in connections.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import socketio

from socketsvc import protocol
from socketsvc.config import Settings
from socketsvc.engine import EngineServer
from socketsvc.engine.timers import TimerList
from socketsvc.protocol import PacketError
from socketsvc.security.policy import SecurityPolicy

from .connections import NamespaceConnections
from .dispatch import EventDispatcher
from .door import NodeDoor
from .handler import Handler
from .namespaces import NamespaceTable, Route
from .observer import Observer
from .reader import PacketReader, UnacceptedFormat, default_format
from .records import ConnectionTable
from .recovery import NAMESPACE_LEFT, RecoveryLog
from .sessions import RecoverableSessions
from .tasks import TaskSet
from .tokens import TokenSessions

log = logging.getLogger("socketsvc.server")


class SocketServer(NamespaceConnections):
    """The Socket.IO layer of one socketsvc node."""

    engine_class = EngineServer

    def __init__(
        self,
        settings: Settings,
        manager: socketio.AsyncManager,
        routes: Sequence[Route[type[Handler]]],
        services: Any,
        security: SecurityPolicy,
        recovery: RecoveryLog,
        observer: Observer | None = None,
        sid_prefix: str = "",
    ) -> None:
        """``services``: what handler classes are instantiated with (opaque here);
        ``observer`` sees what the node does (metrics, the Admin UI); None: nobody.
        ``sid_prefix`` starts every Engine.IO session id (a worker's tag, see workers/)."""
        debug = settings.log_level == "debug"
        accepted = (
            tuple(protocol.FORMATS) if settings.serializer == "auto" else (settings.serializer,)
        )
        super().__init__(
            client_manager=manager,
            logger=_quiet_logger("socketsvc.sio", debug),
            engineio_logger=_quiet_logger("socketsvc.engine", debug),
            serializer=default_format(accepted),
            async_handlers=True,
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_timeout,
            max_http_buffer_size=settings.max_payload,
            cors_allowed_origins=list(settings.cors_origins) or None,
            transports=list(settings.transports),
            # EngineServer's own arguments: the transport-level rules and the message handler
            policy=dataclasses.replace(security.engine_policy(), sid_prefix=sid_prefix),
            on_message=self.handle_message,
            observer=observer,
        )
        self.observer: Observer = observer or Observer()
        self.settings = settings
        self.security = security
        self.recovery = recovery
        # What the node keeps about each namespace connection, one record each (records.py);
        # the manager holds the table, beside python-socketio's own per-client state.
        self.connections: ConnectionTable = self.manager.connections
        self.sessions = RecoverableSessions(
            recovery,
            self.connections,
            self.manager,
            self.eio,
            self.observer,
            self._drop_connection,
            self._send,
            self.close_transport,
        )
        self.tasks = TaskSet()  # handler calls and packet flows still running
        # Set once shutdown begins: from then on nothing new is accepted for delivery.
        self.stopping = asyncio.Event()
        # One timer per transport that has not joined a namespace yet (connect_timeout).
        self.deadlines = TimerList(settings.connect_timeout, self._connect_deadline_passed)
        # Not ``self.namespaces``: python-socketio's connect flow reads that as its list of
        # accepted namespaces (["/"] by default, which lets "/" connect without a handler).
        self.door = NodeDoor(self)  # what handlers may ask of this node
        self.routes = NamespaceTable(
            routes,
            services,
            self.namespace_handlers,
            self.register_namespace,
            in_use=lambda namespace: namespace in self.manager.rooms,
            run=self.tasks.start,
        )
        self.tokens = TokenSessions(
            security,
            self.connections,
            self.manager,
            self.namespace_handlers,
            self._send,
            self.end_session,
            self.tasks.start,
        )
        self.dispatcher = EventDispatcher(
            self.manager,
            self.namespace_handlers,
            security.event_verdict,
            self.tasks,
            self._send,
            self._rate_exceeded,
            self.observer,
            self.tokens.refresh,
        )
        self.reader = PacketReader(
            accepted, settings.max_payload, self._is_connected, self.dispatcher.dispatch
        )

    def format_of(self, eio_sid: str) -> protocol.PacketClass:
        """The packet class (wire format) of one connection."""
        return self.reader.format_of(eio_sid)

    def _is_connected(self, eio_sid: str, namespace: str) -> bool:
        return self.manager.sid_from_eio_sid(eio_sid, namespace) is not None

    # -- transport lifecycle -----------------------------------------------------------------

    def transport_opened(self, eio_sid: str) -> None:
        self.deadlines.arm(eio_sid)

    def _connect_deadline_passed(self, eio_sid: str) -> None:
        log.info(
            "closing %s: no namespace joined within connect_timeout",
            eio_sid,
            extra={"eio_sid": eio_sid},
        )
        self.tasks.start(self.close_transport(eio_sid))

    async def transport_closed(self, eio_sid: str, reason: str) -> None:
        self.deadlines.cancel(eio_sid)
        flow = self.tasks.start(self._close_session(eio_sid, reason))
        if not flow.done():
            await asyncio.shield(flow)

    async def _close_session(self, eio_sid: str, reason: str) -> None:
        """Every namespace's disconnect, then the session's state; runs to the end even when
        the transport's task is cancelled (the client went away) while it waits."""
        try:
            await self.base_transport_closed(eio_sid, reason)
        finally:
            self.reader.forget(eio_sid)
            self.security.closed(eio_sid)

    def register_namespace(self, namespace_handler: Handler) -> None:
        """A handler instance starts serving its namespace: its door first, then
        python-socketio's table (which also sets its ``server``, not used by socketsvc)."""
        namespace_handler.bind(self.door)
        super().register_namespace(namespace_handler)

    async def close_transport(self, eio_sid: str) -> None:
        """Send the Engine.IO close packet and drop the session without waiting for the client."""
        session = self.eio.sockets.get(eio_sid)
        if session is not None:
            await session.close(wait=False, reason=self.reason.SERVER_DISCONNECT)

    # -- incoming messages -------------------------------------------------------------------

    def handle_message(self, eio_sid: str, data: str | bytes) -> Awaitable[None] | None:
        """Handle one Socket.IO message as far as it goes without waiting; return the rest,
        which the transport awaits before it handles this client's next message.

        An event's handler is started here, in a task of its own. A connect, disconnect or
        ack runs in a task too; what is left of it when this returns is what the transport
        waits for. An invalid packet returns the coroutine that closes the transport."""
        if eio_sid not in self.environ:
            return None  # the transport is closing; what it still delivers has no session
        try:
            pkt = self.reader.read(eio_sid, data)  # events go to the dispatcher: the hot path
            if pkt is None:
                return None
        except PacketError as exc:
            return self._refuse_packet(eio_sid, exc)
        except UnacceptedFormat as exc:
            self._refuse_format(eio_sid, exc)
            return None
        flow = self.tasks.start(self._route(eio_sid, pkt))
        # Shielded: a transport task cancelled while it waits (the client went away) must
        # not stop a connect or disconnect half-way, with the manager's state half-changed.
        return None if flow.done() else asyncio.shield(flow)

    async def _route(self, eio_sid: str, pkt: Any) -> None:
        kind, namespace = pkt.packet_type, pkt.namespace
        try:
            if kind == protocol.CONNECT:
                await self._connect(eio_sid, namespace, pkt.data)
            else:
                self._require_connected(eio_sid, namespace)
                if kind == protocol.DISCONNECT:
                    await self.namespace_disconnect(eio_sid, namespace, NAMESPACE_LEFT)
                else:
                    self.observer.ack_received(namespace)
                    await self.base_ack(eio_sid, namespace, pkt.id, pkt.data)
        except PacketError as exc:
            await self._refuse_packet(eio_sid, exc)
        except Exception:
            log.exception(
                "packet handling failed: eio_sid=%s namespace=%s",
                *(eio_sid, namespace),
                extra={"eio_sid": eio_sid, "namespace": namespace},
            )

    def _require_connected(self, eio_sid: str, namespace: str) -> None:
        if not self._is_connected(eio_sid, namespace):
            raise PacketError(f"not connected to namespace {namespace}")

    async def _refuse_packet(self, eio_sid: str, exc: PacketError) -> None:
        # the text, not the exception, whose traceback holds the packet and its session
        log.warning("closing %s: invalid packet: %s", eio_sid, str(exc), extra={"eio_sid": eio_sid})
        self.reader.drop_partial(eio_sid)
        await self.close_transport(eio_sid)

    def _refuse_format(self, eio_sid: str, exc: UnacceptedFormat) -> None:
        """A pinned ``serializer`` refuses the other format, with a connect_error the client
        can read, in the client's own format."""
        log.warning(
            "refusing %s: %s-parser clients are not accepted",
            *(eio_sid, exc.wire_format),
            extra={"eio_sid": eio_sid, "namespace": exc.packet.namespace},
        )
        self.observer.namespace_refused(exc.packet.namespace, "unsupported_parser")
        refusal = {
            "message": f"this server accepts only {self.reader.accepted[0]}-parser clients",
            "data": {"code": "unsupported_parser"},
        }
        self._send(eio_sid, protocol.CONNECT_ERROR, exc.packet.namespace, refusal)

    def _rate_exceeded(self, eio_sid: str, sid: str) -> None:
        self.tasks.start(self._rate_limited(eio_sid, sid))

    async def _rate_limited(self, eio_sid: str, sid: str) -> None:
        # A Socket.IO disconnect first: stock clients then do not reconnect on their own.
        log.warning(
            "closing %s (sid=%s): sustained event rate over the limit",
            *(eio_sid, sid),
            extra={"eio_sid": eio_sid, "sid": sid},
        )
        for ns in list(self.manager.rooms):
            ns_sid = self.manager.sid_from_eio_sid(eio_sid, ns)
            if ns_sid is not None:
                await self.disconnect(ns_sid, namespace=ns, ignore_queue=True)
        await self.close_transport(eio_sid)

    # -- outgoing ------------------------------------------------------------------------------

    async def emit(
        self,
        event: str,
        data: Any = None,
        to: Any = None,
        room: Any = None,
        skip_sid: Any = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        ignore_queue: bool = False,
    ) -> None:
        """``AsyncServer.emit``; an ack ``callback`` runs in a task of its own (see tasks.py)
        when the client answers, not inside the connection's packet handling."""
        if callback is not None:
            callback = self._in_own_task(callback)
        await super().emit(
            event,
            data,
            to=to,
            room=room,
            skip_sid=skip_sid,
            namespace=namespace,
            callback=callback,
            ignore_queue=ignore_queue,
        )

    def _in_own_task(self, callback: Callable[..., Any]) -> Callable[..., None]:
        def run(*args: Any) -> None:
            self.tasks.start(_call(callback, args))

        return run

    def send_packet(self, eio_sid: str, pkt: Any) -> None:
        """Every packet python-socketio sends goes out in its recipient's format; the CONNECT
        of a namespace with recovery carries the session's ``pid``."""
        namespace, data = pkt.namespace or "/", pkt.data
        if pkt.packet_type == protocol.CONNECT:
            pid = self.sessions.pid_connecting(eio_sid, namespace)
            if pid is not None:
                data = {**data, "pid": pid}
        self._send(eio_sid, pkt.packet_type, namespace, data, pkt.id)

    def _send(
        self, eio_sid: str, kind: int, namespace: str, data: Any, id: int | None = None
    ) -> None:
        self.eio.push(eio_sid, self.reader.encode(eio_sid, kind, namespace, data, id))

    # -- shutdown ------------------------------------------------------------------------------

    def begin_shutdown(self) -> None:
        """From now on this node accepts nothing new for delivery (the publish API answers
        503): its clients are about to be closed. Called when the signal arrives, and again
        (harmlessly) when the clients are closed."""
        self.stopping.set()

    async def close_all(self, timeout: float) -> None:
        """Close every client's transport (clients will reconnect elsewhere), bounded in time."""
        self.begin_shutdown()
        self.deadlines.cancel_all()
        if self.eio.sockets:
            try:
                await asyncio.wait_for(self.eio.disconnect(), timeout)
            except TimeoutError:
                log.warning("some clients did not close within %ss", timeout)
        await self.tasks.wait(timeout)
        await self.routes.release_all()
        await self.shutdown()


async def _call(callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        result = callback(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("ack callback failed: %r", callback)


def _quiet_logger(name: str, debug: bool) -> logging.Logger:
    """python-socketio logs every packet at INFO; keep that for debug level only."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    return logger
