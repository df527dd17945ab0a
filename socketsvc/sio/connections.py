"""How a client joins and leaves a namespace on this node: python-socketio's connect and
disconnect flows (``base_*`` in _socketio.py) with socketsvc's checks around them.

- **Connect:** the namespace is resolved, an unknown one refused with
  ``{"message": "Invalid namespace"}``. A kept session is claimed for recovery. Then the
  security checks and the handler's ``on_connect`` run, in a task of their own; a crash there
  refuses with ``internal`` rather than leaving the client unanswered. ``after_connect`` runs
  once the client knows it is connected, and a restored session is replayed.
- **Disconnect:** the connection's record (records.py) is dropped, by one call, and its
  session is kept for recovery when the client may come back. A server disconnect keeps
  nothing. A takeover drops only the connection it took the session from.

:class:`SocketServer` (server.py) is this class plus transports, messages and sending; the
attributes used here are set up there.
"""

from __future__ import annotations

import builtins
import logging
from typing import TYPE_CHECKING, Any

from socketio import exceptions as sio_exceptions

from socketsvc import errors, protocol
from socketsvc.protocol import PacketError
from socketsvc.security.policy import Refused, SecurityPolicy

from ._socketio import SocketIOServer
from .disconnects import Selection
from .handler import Handler
from .handshake import Handshake
from .records import Connection, ConnectionTable
from .recovery import Session

if TYPE_CHECKING:
    from socketsvc.engine.timers import TimerList

    from .namespaces import NamespaceTable
    from .observer import Observer
    from .sessions import RecoverableSessions
    from .tasks import TaskSet
    from .tokens import TokenSessions

log = logging.getLogger("socketsvc.server")

INVALID_NAMESPACE = {"message": "Invalid namespace"}
INTERNAL_REFUSAL = ("Internal server error", {"code": errors.INTERNAL})
REFUSED = "refused"  # the code observers see for a refusal that carries none


class NamespaceConnections(SocketIOServer):
    """Namespace connect and disconnect, room and session changes (which recovery keeps)."""

    # set up by SocketServer.__init__
    security: SecurityPolicy
    observer: Observer
    sessions: RecoverableSessions
    tokens: TokenSessions
    routes: NamespaceTable
    tasks: TaskSet
    deadlines: TimerList
    connections: ConnectionTable

    async def _connect(self, eio_sid: str, namespace: str, auth: Any) -> None:
        try:
            handler = self.routes.handler_for(namespace)
        except Exception:  # a pattern class's __init__ failed (logged): answer, never hang
            self.observer.namespace_refused(namespace, errors.INTERNAL)
            self._send(eio_sid, protocol.CONNECT_ERROR, namespace, _refusal(*INTERNAL_REFUSAL))
            return
        if handler is None and namespace != "/":
            self.observer.namespace_refused(namespace, errors.INVALID_NAMESPACE)
            self._send(eio_sid, protocol.CONNECT_ERROR, namespace, INVALID_NAMESPACE)
            return
        if self._is_connected(eio_sid, namespace):
            raise PacketError(f"already connected to namespace {namespace}")
        sessions = self.sessions
        auth, restored, offset = await sessions.claim(eio_sid, namespace, auth)
        if eio_sid not in self.environ:  # the transport closed while the claim ran
            await self._unjoined(eio_sid, restored)
            return
        sessions.begin(eio_sid, namespace, restored)
        try:
            await self.base_namespace_connect(eio_sid, namespace, auth)
        finally:
            joining = sessions.end(eio_sid, namespace)
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        record = joining.record
        if sid is None or record is None or not self.manager.is_connected(sid, namespace):
            await self._unjoined(eio_sid, record)
            await self.routes.release(namespace)  # refused
            return
        await sessions.connected(record, joining.session)
        self.observer.namespace_connected(namespace, sid, eio_sid)
        if eio_sid not in self.environ:
            # The transport closed while the connect handler ran and found this namespace
            # still connecting: end it now, with on_disconnect, as for any other client.
            await self.namespace_disconnect(eio_sid, namespace, self.reason.TRANSPORT_CLOSE)
            return
        self.deadlines.cancel(eio_sid)
        if record.lifetime is not None:
            self.security.established(record.lifetime)
        if restored is not None:
            if not await sessions.restore(restored, offset, joining.head):
                return  # dropped meanwhile (its session kept again), or closed
            self.observer.recovery_hit(namespace, sid)
        if handler is not None and "after_connect" in handler.own_hooks:
            try:
                await self.tasks.start(handler.after_connect(sid))
            except Exception:
                log.exception(
                    "after_connect failed: sid=%s namespace=%s",
                    *(sid, namespace),
                    extra={"sid": sid, "namespace": namespace},
                )

    async def run_lifecycle_handler(self, event: str, namespace: str, *args: Any) -> Any:
        """connect and disconnect handlers, each in a task of its own."""
        handler = self.namespace_handlers.get(namespace)
        if event == "connect":
            return await self._admit(handler, namespace, *args)
        if event == "disconnect":
            self.observer.namespace_disconnected(namespace, *args[:2])
        if handler is not None and event in self.reserved_events:
            if event == "disconnect" and "on_disconnect" not in handler.own_hooks:
                return None  # the base class's does nothing: no task to run it
            return await self.tasks.start(handler.trigger_event(event, *args))
        return None

    async def _admit(
        self,
        handler: Handler | None,
        namespace: str,
        sid: str,
        environ: Any,
        auth: Any = None,
    ) -> Any:
        """The security checks, then the connect handler. A refusal is raised as
        python-socketio's ``ConnectionRefusedError``, which sends the CONNECT_ERROR; the
        record goes when python-socketio is done with it (``_connect``, before the refusal
        reaches the client), and a restored session is kept again after that."""
        eio_sid = self.manager.eio_sid_from_sid(sid, namespace)
        record = self.connections.of(sid, eio_sid)
        if record is None:  # a newer connection claimed its session meanwhile
            log.info("refusing %s on %s: its session was taken over", eio_sid, namespace)
            self.observer.namespace_refused(namespace, errors.INTERNAL)
            raise _refused(_refusal(*INTERNAL_REFUSAL))
        joined = sum(1 for ns in self.manager.rooms if self._is_connected(eio_sid, ns)) - 1
        security = self.security
        try:
            identity = security.admit(namespace, auth, joined)
            if identity is not None and security.revoked is not None:
                await security.not_revoked(namespace, identity)
        except Refused as exc:
            self.observer.namespace_refused(namespace, _code(exc.refusal.get("data")))
            raise _refused(exc.refusal) from None
        if identity is not None:  # an anonymous connection costs nothing here
            self.connections.authenticated(record, security.connected(sid, namespace, identity))
        if handler is None:
            return None
        auth = auth or {}
        record.handshake = Handshake.of(environ["aiohttp.request"], auth, security.proxies)
        if "on_connect" not in handler.own_hooks:
            return None  # the base class's accepts everyone: no task to run it
        try:
            accepted = await self.tasks.start(handler.trigger_event("connect", sid, environ, auth))
        except sio_exceptions.ConnectionRefusedError as exc:
            refusal = exc
        except builtins.ConnectionRefusedError as exc:  # as python-socketio accepts it
            refusal = sio_exceptions.ConnectionRefusedError(*exc.args)
        except Exception:
            log.exception(
                "connect handler failed: sid=%s namespace=%s",
                *(sid, namespace),
                extra={"sid": sid, "namespace": namespace},
            )
            refusal = sio_exceptions.ConnectionRefusedError(*INTERNAL_REFUSAL)
        else:
            if accepted is False:
                self.observer.namespace_refused(namespace, REFUSED)
            return accepted
        self.observer.namespace_refused(namespace, _code(refusal.error_args.get("data")))
        raise refusal from None

    async def namespace_disconnect(
        self, eio_sid: str, namespace: str, reason: str | None = None
    ) -> None:
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        kept = self.sessions.keep(sid, eio_sid, namespace, reason)
        await self.base_namespace_disconnect(eio_sid, namespace, reason)
        if sid is not None:
            await self._gone(sid, eio_sid, kept)
        await self.routes.release(namespace)

    async def disconnect(
        self, sid: str, namespace: str | None = None, ignore_queue: bool = False
    ) -> None:
        """``AsyncServer.disconnect`` (the server drops a client from a namespace on purpose:
        nothing is kept for recovery), with this server's per-client state cleaned too."""
        namespace = namespace or "/"
        here = self.manager.is_connected(sid, namespace)
        eio_sid = self.manager.eio_sid_from_sid(sid, namespace)
        await super().disconnect(sid, namespace=namespace, ignore_queue=ignore_queue)
        if here and not self.manager.is_connected(sid, namespace):
            await self._gone(sid, eio_sid, None)
            await self.routes.release(namespace)

    async def _drop_connection(self, sid: str, namespace: str, eio_sid: str) -> None:
        """Drop connection ``eio_sid`` of ``sid`` (a reconnect took its session over): here
        if it is this node's, else through the bus to whichever node has it. Only that
        connection: a later one with the same sid is left alone."""
        if self.manager.eio_sid_from_sid(sid, namespace) == eio_sid:
            await self.disconnect(sid, namespace=namespace, ignore_queue=True)
        else:
            self.manager.drop_elsewhere(sid, namespace, eio_sid)

    async def _gone(self, sid: str, eio_sid: str, kept: Session | None) -> None:
        """Connection ``eio_sid`` of ``sid`` left a namespace: its record goes (unless another
        connection holds the sid by now); its session is kept for recovery (``kept``), or
        forgotten."""
        record = self._drop(sid, eio_sid)
        if record is not None:
            await self.sessions.gone(record, kept)

    async def _unjoined(self, eio_sid: str, record: Connection | None) -> None:
        """A connect that did not complete: its record goes; a restored session is kept again,
        for the client's next attempt."""
        if record is not None and self._drop(record.sid, eio_sid) is not None:
            await self.sessions.refused(record)

    def _drop(self, sid: str, eio_sid: str) -> Connection | None:
        """The one call that ends what this node keeps about a connection: its record, and
        the token timer the security layer runs for it."""
        record = self.connections.drop(sid, eio_sid)
        if record is not None and record.lifetime is not None:
            self.security.disconnected(record.lifetime)
        return record

    def disconnect_clients(self, selection: Selection) -> None:
        """Close the connections ``selection`` names on every node: this node's now, the
        others' when the bus brings them the message (at-most-once, like every bus message)."""
        self.disconnect_here(selection)
        self.manager.publish_disconnect(selection)

    def disconnect_here(self, selection: Selection) -> int:
        """Close this node's connections ``selection`` names; returns how many there were."""
        return self.tokens.close_here(selection)

    async def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        await super().enter_room(sid, room, namespace=namespace)
        await self.sessions.changed(sid, namespace or "/")

    async def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        await super().leave_room(sid, room, namespace=namespace)
        await self.sessions.changed(sid, namespace or "/")

    async def save_session(self, sid: str, session: Any, namespace: str | None = None) -> None:
        await super().save_session(sid, session, namespace=namespace)
        await self.sessions.changed(sid, namespace or "/")

    async def end_session(self, sid: str, namespace: str) -> None:
        """Disconnect ``sid`` for good: its token expired or was revoked. Unlike other server
        disconnects (python-socketio gives them all the reason ``server disconnect``, also
        when a node shuts down), handlers are told it will not come back
        (``may_come_back`` is False in ``on_disconnect``), so ``/chat`` announces ``left``
        at once instead of after the recovery window."""
        record = self.connections.get(sid)
        if record is not None:
            record.ending = True
        try:
            await self.disconnect(sid, namespace=namespace, ignore_queue=True)
        finally:
            if record is not None:
                record.ending = False

    def session_pid(self, sid: str) -> str | None:
        """The private id of ``sid``'s recoverable session (None without recovery, and while
        the connection is ended for good)."""
        record = self.connections.get(sid)
        if record is None or record.ending:
            return None
        return self.sessions.pid(sid)


def _code(data: Any) -> str:
    """The ``code`` of a refusal's ``data``, for observers."""
    code = data.get("code") if isinstance(data, dict) else None
    return code if isinstance(code, str) else REFUSED


def _refusal(message: str, data: Any) -> dict[str, Any]:
    return {"message": message, "data": data}


def _refused(refusal: dict[str, Any]) -> sio_exceptions.ConnectionRefusedError:
    """python-socketio's exception for a ``{message, data?}`` CONNECT_ERROR payload."""
    if "data" in refusal:
        return sio_exceptions.ConnectionRefusedError(refusal["message"], refusal["data"])
    return sio_exceptions.ConnectionRefusedError(refusal["message"])
