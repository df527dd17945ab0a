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
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import socketio

from socketsvc import errors
from socketsvc.errors import OncePerCause, SocketsvcError, UnsupportedValue
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
from socketsvc.handlers.events import ServerEvent
from socketsvc.handlers.node_calls import NodeCalls
from socketsvc.handlers.services import Services
from socketsvc.sio.handler import HOOKS

log = logging.getLogger("socketsvc.handlers")

__all__ = ["EVENT_NAME", "RESERVED_EVENTS", "BaseNamespace", "event"]

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


def event(name: str) -> Callable[[Handler], Handler]:
    """Expose a method under an event name that is not a Python identifier (``"ack-echo"``)."""

    def mark(method: Handler) -> Handler:
        method._socketsvc_event = name  # type: ignore[attr-defined]
        return method

    return mark


if TYPE_CHECKING:

    class _Namespace:
        """What mypy sees of python-socketio's ``AsyncNamespace`` (untyped, and its
        ``server`` no way in for handlers): the namespace name. Every other name a handler
        uses is socketsvc's, typed; a misspelt one is an error."""

        namespace: str

        def __init__(self, namespace: str | None = None) -> None: ...

else:
    _Namespace = socketio.AsyncNamespace


class BaseNamespace(NodeCalls, _Namespace):
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
    own_hooks: ClassVar[frozenset[str]] = frozenset()
    """The lifecycle hooks the class defines (read by the server, which starts no task for
    the others): set when the class is defined."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        rerouted = cls.trigger_event is not BaseNamespace.trigger_event  # may answer them
        cls.own_hooks = frozenset(
            hook
            for hook in HOOKS
            if getattr(cls, hook) is not getattr(BaseNamespace, hook)
            or (rerouted and hook != "after_connect")
        )
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
        specs = self._specs
        assert specs is not None
        self._event_specs: dict[str, EventSpec] = specs

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
        if room != sid and self.door.is_sid_room(self.namespace, room):
            raise SocketsvcError(errors.FORBIDDEN, "that room is private")
        if not await self.can_join(sid, room):
            raise SocketsvcError(errors.FORBIDDEN, f"you may not join '{room[:64]}'")
        joined = self.rooms_of(sid)
        limit = self.door.settings.max_rooms_per_connection
        if limit and room not in joined and room != sid and len(joined) >= limit:
            raise SocketsvcError(errors.LIMIT_EXCEEDED, f"at most {limit} rooms per connection")
        await self.enter_room(sid, room)
