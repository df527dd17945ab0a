"""BaseNamespace: the class every handler module derives from.

A handler module is one class. ``on_<event>`` methods (or methods marked with :func:`event` for
names that are not identifiers) are the only things a client can dispatch to; the table of them
is built once per class, so names starting with ``_``, ``connect``/``disconnect`` and helper
methods are unreachable. A method's return value is the ack. Errors are data: a
:class:`SocketsvcError` becomes ``{"error": {code, message}}``, anything else is logged with sid,
namespace and event and answered as ``internal``; the connection always stays open.
"""

from __future__ import annotations

import inspect
import logging
import re
import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, TypeVar

import socketio

from socketsvc import errors
from socketsvc.errors import OncePerCause, SocketsvcError
from socketsvc.handlers import schema
from socketsvc.handlers.services import Services
from socketsvc.security.auth import Identity

log = logging.getLogger("socketsvc.handlers")

EVENT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,63}$")
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
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
    concrete namespace (a pattern namespace gets one instance per matching namespace).
    """

    events: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[str, str] = {}
        for attr, member in inspect.getmembers(cls, inspect.iscoroutinefunction):
            name = getattr(member, "_socketsvc_event", None)
            if (
                name is None
                and attr.startswith("on_")
                and attr not in ("on_connect", "on_disconnect")
            ):
                name = attr[3:]
            if name is None:
                continue
            if not EVENT_NAME.match(name) or name in RESERVED_EVENTS:
                raise TypeError(f"{cls.__qualname__}.{attr}: {name!r} cannot be an event name")
            table[name] = attr
        cls.events = table

    def __init__(self, namespace: str, services: Services) -> None:
        super().__init__(namespace)
        self.services = services
        self._log_deep = OncePerCause(log)
        self._params: dict[str, list[tuple[str, Any]]] = {}
        self._arity: dict[str, tuple[int, float]] = {}
        for name, attr in self.events.items():
            method = getattr(self, attr)
            params = list(inspect.signature(method).parameters.values())[1:]
            hints = typing.get_type_hints(method, include_extras=True)
            positional = [
                p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
            declared = [(p.name, hints.get(p.name, Any)) for p in positional]
            # Only declared types are checked; a handler of plain ``Any`` skips parsing.
            self._params[name] = declared if any(k is not Any for _, k in declared) else []
            required = sum(1 for p in positional if p.default is p.empty)
            variadic = any(p.kind == p.VAR_POSITIONAL for p in params)
            self._arity[name] = (required, float("inf") if variadic else len(positional))

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

    async def dispatch(self, event: str, sid: str, args: tuple[Any, ...]) -> Any:
        """Run the handler for ``event`` and return its ack value, or an error ack."""
        attr = self.events.get(event)
        if attr is None:
            return errors.error_ack(
                errors.UNKNOWN_EVENT, f"no event '{event[:64]}' in namespace {self.namespace}"
            )
        try:
            least, most = self._arity[event]
            if not least <= len(args) <= most:
                raise SocketsvcError(
                    errors.INVALID_PAYLOAD, f"wrong number of arguments for '{event}'"
                )
            if self._params[event]:  # empty: nothing declared, the common Any/*args handler
                args = self._parse_args(event, args)
            return await getattr(self, attr)(sid, *args)
        except SocketsvcError as exc:
            return exc.to_ack()
        except RecursionError:
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
        except Exception:
            log.exception(
                "handler failed: sid=%s namespace=%s event=%s", sid, self.namespace, event
            )
            return errors.error_ack(errors.INTERNAL, "internal server error")

    def _parse_args(self, event: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """Check each argument against its annotation; a lone payload names fields bare."""
        params = self._params[event]
        parsed = list(args)
        for index, (name, kind) in enumerate(params[: len(args)]):
            if kind is not Any:
                parsed[index] = schema.parse(kind, args[index], "" if len(params) == 1 else name)
        return tuple(parsed)

    # -- identity and authorization -----------------------------------------------------------

    def identity(self, sid: str) -> Identity | None:
        """The verified token claims of ``sid``'s connection, or None when anonymous."""
        identity: Identity | None = self.server.security.identities.get(sid)
        return identity

    async def can_join(self, sid: str, room: str) -> bool:
        """The authorization hook: whether ``sid`` may join ``room`` (everyone, by default).

        Consulted by :meth:`join` for every join; a False answers the client ``forbidden``.
        """
        return True

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
    ) -> None:
        """Emit as ``AsyncNamespace.emit``; ``volatile=True`` marks a best-effort message
        (typing indicators, cursor moves) that is dropped for clients with a backlog instead
        of queueing behind what they have not read yet."""
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

    async def call(self, event: str, data: Any = None, *, to: str, timeout: float = 10.0) -> Any:
        """Emit to one client and wait for its ack; raises :class:`AckTimeout` when none comes."""
        try:
            return await self.server.call(
                event, data, to=to, namespace=self.namespace, timeout=timeout
            )
        except socketio.exceptions.TimeoutError:
            raise errors.AckTimeout(event, timeout) from None
