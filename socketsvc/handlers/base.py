"""BaseNamespace: the class every handler module derives from.

A handler module is one class. ``on_<event>`` methods (or methods marked with :func:`event` for
names that are not identifiers) are the only things a client can dispatch to; the table of them
and each event's argument parser are built once, when the class is defined (checks.py), so
names starting with ``_``, ``connect``/``disconnect`` and helper methods are unreachable and
mistakes in the class stop start-up. A method's return value is the ack. Errors are data: a
:class:`SocketsvcError` becomes ``{"error": {code, message}}``, anything else is logged with
sid, namespace and event and answered as ``internal``; the connection always stays open.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar, overload

import socketio

from socketsvc import errors
from socketsvc.errors import OncePerCause, SocketsvcError, UnsupportedValue
from socketsvc.handlers.awaited import awaited
from socketsvc.handlers.checks import (
    EVENT_NAME,
    RESERVED_EVENTS,
    EventSpec,
    HandlerError,
    check_lifecycle,
    class_name,
    event_specs,
    event_table,
    server_event_table,
)
from socketsvc.handlers.events import Arguments, Calls, Emits, ServerEvent
from socketsvc.handlers.handshake import Handshake
from socketsvc.handlers.services import Services
from socketsvc.security.auth import Identity
from socketsvc.sio.cluster import Cluster, SingleNode, SocketRecord
from socketsvc.sio.recovery import RECOVERABLE

log = logging.getLogger("socketsvc.handlers")

__all__ = ["EVENT_NAME", "RESERVED_EVENTS", "BaseNamespace", "event"]

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


def event(name: str) -> Callable[[Handler], Handler]:
    """Expose a method under an event name that is not a Python identifier (``"ack-echo"``)."""

    def mark(method: Handler) -> Handler:
        method._socketsvc_event = name  # type: ignore[attr-defined]
        return method

    return mark


class BaseNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Guarded dispatch, payload validation, error acks and room helpers for one namespace.

    Subclasses receive their collaborators through ``services``; one instance serves one
    concrete namespace. A pattern namespace (``/board/*``) gets one instance per matching
    namespace, created on its first connect; when its last client leaves, :meth:`on_release`
    runs and the instance is dropped, unless the class sets ``keep_when_empty = True``.
    """

    events: ClassVar[dict[str, str]] = {}
    server_events: ClassVar[dict[str, ServerEvent[Any]]] = {}
    """The server→client events the class declares (:class:`ServerEvent` attributes)."""
    # Connection-state recovery for this namespace, in seconds (None: the ``recovery_window``
    # setting; ``[namespace_recovery]`` in the settings overrides both). Recovery adds an
    # offset as the last argument of stored events: see README "Connection-state recovery".
    recovery_window: ClassVar[float | None] = None
    keep_when_empty: ClassVar[bool] = False
    """Pattern namespaces only: keep the instance (and its state) after its last client left,
    until the node stops. Memory then grows with the number of distinct namespaces used."""
    lifespan: ClassVar[Callable[[Services], AsyncGenerator[None]] | None] = None
    """Optional start-up/shutdown hook, an async generator classmethod run once per class:
    code before its ``yield`` runs before the node accepts clients (``services.provide`` goes
    there), code after it once every client is gone."""
    _specs: ClassVar[dict[str, EventSpec] | None] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.events = event_table(cls)
        cls.server_events = server_event_table(cls, BaseNamespace)
        check_lifecycle(cls, BaseNamespace)
        try:
            cls._specs = event_specs(cls, cls.events)
        except NameError:
            cls._specs = None  # a forward reference: resolved by prepare() at start-up

    @classmethod
    def prepare(cls) -> None:
        """Finish what class definition left open (annotations naming later definitions);
        called at start-up. Raises :class:`HandlerError` naming class and method."""
        if cls._specs is None:
            for name, attr in cls.events.items():
                try:
                    event_specs(cls, {name: attr})
                except NameError as exc:
                    raise HandlerError(
                        f"{class_name(cls)}.{attr}: annotation cannot be resolved: {exc}"
                    ) from None
            cls._specs = event_specs(cls, cls.events)

    def __init__(self, namespace: str, services: Services) -> None:
        super().__init__(namespace)
        self.services = services
        self._log_deep = OncePerCause(log)
        self.prepare()
        assert self._specs is not None
        self._event_specs: dict[str, EventSpec] = self._specs

    async def on_connect(self, sid: str, environ: Mapping[str, Any], auth: dict[str, Any]) -> Any:
        """Accept everyone by default; raise ``ConnectionRefusedError`` to refuse.

        ``environ`` is the WSGI-style view of the handshake request (``HTTP_*`` headers,
        ``QUERY_STRING``, ``aiohttp.request``), read-only; ``environ.copy()`` gives a dict."""
        return None

    async def after_connect(self, sid: str) -> None:
        """Runs after the client was told it is connected: the place for welcome emits."""
        return None

    async def on_disconnect(self, sid: str, reason: str) -> None:
        return None

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event in ("connect", "disconnect"):
            return await getattr(self, f"on_{event}")(*args)
        return await self.dispatch(event, args[0], args[1:])

    async def dispatch(self, event: str, sid: str, args: Sequence[Any]) -> Any:
        """Run the handler for ``event`` and return its ack value, or an error ack."""
        try:
            function, parsed = self.resolve(event, args)
            return await function(self, sid, *parsed)
        except Exception as exc:
            return self.failure(exc, event, sid)

    def resolve(
        self, event: str, args: Sequence[Any]
    ) -> tuple[Callable[..., Awaitable[Any]], Sequence[Any]]:
        """The function that handles ``event`` (called with this instance, the sid and the
        arguments) and its arguments, parsed as its annotations declare. Raises
        :class:`SocketsvcError` (``unknown_event``, ``invalid_payload``)."""
        spec = self._event_specs.get(event)
        if spec is None:
            raise SocketsvcError(
                errors.UNKNOWN_EVENT, f"no event '{event[:64]}' in namespace {self.namespace}"
            )
        if not spec.least <= len(args) <= spec.most:
            raise SocketsvcError(errors.INVALID_PAYLOAD, f"wrong number of arguments for '{event}'")
        if spec.parse is None:  # nothing declared, the common Any/*args handler
            return spec.function, args
        return spec.function, spec.parse(tuple(args))

    def failure(self, exc: Exception, event: str, sid: str) -> dict[str, Any]:
        """The error ack for what handling ``event`` raised: a :class:`SocketsvcError` as
        its code and message, anything else logged here and answered ``internal``."""
        if isinstance(exc, SocketsvcError):
            return exc.to_ack()
        if isinstance(exc, UnsupportedValue):  # emitted something no wire format carries
            self.report_bug(event, exc.type_name, str(exc), sid)
            return errors.error_ack(errors.INTERNAL, "internal server error")
        if isinstance(exc, RecursionError):
            # Client data nested deeper than the handler can walk (JSON parses up to 10^4
            # levels on Python 3.12+): the client's doing, one line per event, no traceback.
            self._log_deep(
                event,
                "handler for %s in %s raised RecursionError (client data nested too deeply, "
                "or a bug in the handler); answered invalid_payload",
                event,
                self.namespace,
            )
            return errors.error_ack(errors.INVALID_PAYLOAD, "data is nested too deeply")
        log.error(
            "handler failed: sid=%s namespace=%s event=%s",
            *(sid, self.namespace, event),
            exc_info=exc,
            extra={"sid": sid, "namespace": self.namespace, "event": event},
        )
        return errors.error_ack(errors.INTERNAL, "internal server error")

    def report_bug(self, event: str, cause: str, text: str, sid: str) -> None:
        """Log a handler bug once per (class, event, cause); repeats go to debug level."""
        first = self.services.first_report(("handler bug", type(self), event, cause))
        level = logging.ERROR if first else logging.DEBUG
        spec = self._event_specs.get(event)
        log.log(
            level,
            "handler bug in %s.%s (sid=%s namespace=%s event=%s): %s; the client was answered "
            "'internal' (logged once per cause)",
            type(self).__qualname__,
            spec.attr if spec is not None else event,
            sid,
            self.namespace,
            event,
            text,
        )

    async def on_release(self) -> None:
        """Pattern namespaces: the last client left (or the node is stopping) and this
        instance is about to be dropped; save what must outlive it here. It may run again if
        clients return while it runs (the instance is then kept)."""
        return None

    def handshake(self, sid: str) -> Handshake:
        """The connect request of ``sid`` (headers, query, auth, client address): available
        from ``on_connect`` on, in ``after_connect``, every event and ``on_disconnect``."""
        return self.server.handshakes[sid]  # type: ignore[no-any-return]

    # -- recovery -----------------------------------------------------------------------------

    def recovered(self, sid: str) -> bool:
        """Whether ``sid``'s connection is a restored one (same sid, rooms and session data,
        and it was sent what it missed) rather than a new one."""
        return sid in self.server.recovered

    def may_come_back(self, sid: str, reason: str) -> bool:
        """In ``on_disconnect``: whether this client's session is kept for it to come back
        (it dropped without meaning to, and the namespace has recovery)."""
        return self.server.session_pid(sid) is not None and reason in RECOVERABLE

    # -- the cluster: every node, socketsvc's and Node.js's -------------------------------------

    @property
    def cluster(self) -> Cluster:
        return self.services.cluster or SingleNode(self.server.manager)

    async def fetch_sockets(
        self,
        room: str | Sequence[str] | None = None,
        *,
        except_rooms: str | Sequence[str] = (),
        timeout: float = 5.0,
    ) -> list[SocketRecord]:
        """This namespace's sockets in ``room`` (one, several, None: all) and in none of
        ``except_rooms`` on every node, this one's first (Socket.IO's ``fetchSockets()``).
        :class:`~socketsvc.errors.ClusterTimeout` when a node does not answer in time."""
        rooms = [] if room is None else [room] if isinstance(room, str) else list(room)
        skip = [except_rooms] if isinstance(except_rooms, str) else list(except_rooms)
        return await self.cluster.fetch_sockets(self.namespace, rooms, skip, timeout)

    async def server_side_emit(self, event: str, *args: Any) -> None:
        """A server-side event to this namespace on the *other* nodes (``serverSideEmit``)."""
        await self.cluster.server_side_emit(self.namespace, event, list(args))

    async def server_side_call(self, event: str, *args: Any, timeout: float = 5.0) -> list[Any]:
        """:meth:`server_side_emit` that returns every other node's answer, in arrival order
        (``serverSideEmitWithAck``); :class:`~socketsvc.errors.ClusterTimeout` as above."""
        return await self.cluster.server_side_call(self.namespace, event, list(args), timeout)

    async def handle_server_event(self, event: str, *args: Any) -> Any:
        """Override: another node's server-side event; the return value is its answer
        (Node's ack). Errors are answered as error acks; by default ``unknown_event``."""
        raise SocketsvcError(
            errors.UNKNOWN_EVENT,
            f"no server-side event '{event[:64]}' in namespace {self.namespace}",
        )

    async def dispatch_server_event(self, event: str, args: list[Any]) -> Any:
        """:meth:`handle_server_event`, its exceptions turned into error acks."""
        try:
            return await self.handle_server_event(event, *args)
        except Exception as exc:
            return self.failure(exc, event, "(server-side)")

    # -- identity and authorization -----------------------------------------------------------

    def identity(self, sid: str) -> Identity | None:
        """The verified token claims of ``sid``'s connection, or None when anonymous; after an
        ``auth:refresh``, the new token's (``.expires`` is its ``exp``)."""
        return self.server.security.identity(sid)  # type: ignore[no-any-return]

    async def can_join(self, sid: str, room: str) -> bool:
        """The authorization hook: whether ``sid`` may join ``room`` (everyone, by default).

        Consulted by :meth:`join` for every join; a False answers the client ``forbidden``.
        Consulted again for each of the connection's rooms when it refreshes its token: a
        room the new token no longer allows is left through :meth:`on_room_revoked`.
        """
        return True

    async def on_room_revoked(self, sid: str, room: str) -> None:
        """``sid`` refreshed its token and :meth:`can_join` no longer allows it in ``room``:
        take it out (the default leaves the room; ``/chat`` also tells the room it left)."""
        await self.leave(sid, room)

    # -- rooms -------------------------------------------------------------------------------

    async def join(self, sid: str, room: str) -> None:
        """Add ``sid`` to ``room`` if :meth:`can_join` allows it and the connection is under
        ``max_rooms_per_connection``; another client's private sid room is always off limits."""
        if room != sid and self.server.manager.is_sid_room(self.namespace, room):
            raise SocketsvcError(errors.FORBIDDEN, "that room is private")
        if not await self.can_join(sid, room):
            raise SocketsvcError(errors.FORBIDDEN, f"you may not join '{room[:64]}'")
        joined = self.rooms_of(sid)
        limit = self.server.settings.max_rooms_per_connection
        if limit and room not in joined and room != sid and len(joined) >= limit:
            raise SocketsvcError(errors.LIMIT_EXCEEDED, f"at most {limit} rooms per connection")
        await self.enter_room(sid, room)

    async def leave(self, sid: str, room: str) -> None:
        await self.leave_room(sid, room)

    def members(self, room: str) -> list[str]:
        """The sids in ``room`` on this node."""
        return [sid for sid, _ in self.server.manager.get_participants(self.namespace, room)]

    def rooms_of(self, sid: str) -> list[str]:
        """The rooms ``sid`` has joined, without its private sid room."""
        return [r for r in self.server.rooms(sid, namespace=self.namespace) if r != sid]

    @overload
    async def emit(
        self, event: Emits[Arguments], /, *args: Arguments.args, **kwargs: Arguments.kwargs
    ) -> None: ...

    @overload
    async def emit(
        self,
        event: str,
        data: Any = None,
        to: Any = None,
        room: Any = None,
        skip_sid: Any = None,
        namespace: str | None = None,
        callback: Any = None,
        ignore_queue: bool = False,
        *,
        volatile: bool = False,
    ) -> None: ...

    @awaited  # type: ignore[misc]  # (the first overload's arguments: see ServerEvent)
    async def emit(
        self,
        event: str | ServerEvent[Any],
        data: Any = None,
        to: Any = None,
        room: Any = None,
        skip_sid: Any = None,
        namespace: str | None = None,
        callback: Any = None,
        ignore_queue: bool = False,
        *,
        volatile: bool = False,
    ) -> None:
        """Emit as ``AsyncNamespace.emit``; ``volatile=True`` marks a best-effort message
        (typing indicators, cursor moves) that is dropped for clients with a backlog instead
        of queueing behind what they have not read yet. ``event`` is a name or a declared
        :class:`ServerEvent`, whose payload type mypy checks ``data`` against."""
        if type(event) is not str:
            event = event.name  # type: ignore[union-attr]
        if not volatile:
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
            return
        await self.server.manager.emit(
            event,
            data,
            namespace=namespace or self.namespace,
            room=to if to is not None else room,
            skip_sid=skip_sid,
            volatile=True,
        )

    @overload
    async def call(
        self, event: Calls[Arguments], /, *args: Arguments.args, **kwargs: Arguments.kwargs
    ) -> Any: ...

    @overload
    async def call(
        self, event: str, data: Any = None, *, to: str, timeout: float = 10.0
    ) -> Any: ...

    @awaited  # type: ignore[misc]  # (the first overload's arguments: see ServerEvent)
    async def call(
        self, event: str | ServerEvent[Any], data: Any = None, *, to: str, timeout: float = 10.0
    ) -> Any:
        """Emit to one client and wait for its ack; raises :class:`AckTimeout` when none comes."""
        if type(event) is not str:
            event = event.name  # type: ignore[union-attr]
        try:
            return await self.server.call(
                event, data, to=to, namespace=self.namespace, timeout=timeout
            )
        except socketio.exceptions.TimeoutError:
            raise errors.AckTimeout(event, timeout) from None
