"""What a handler class must look like, checked when the class is defined.

Mistakes that would otherwise surface on the first connect or event, or never (a plain ``def
on_x`` that clients cannot reach, python-socketio's two-argument ``on_connect``, an
``__init__`` the server cannot call, ``Length`` on an ``int``), raise :class:`HandlerError`
naming the class and the method. Raised while the handler module is imported, they stop
start-up with exit status 2.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from socketsvc.errors import InvalidPayload
from socketsvc.sio.tokens import TOKEN_REFRESH

from . import schema
from .events import ServerEvent

EVENT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,63}$")
RESERVED_EVENTS = frozenset(
    {
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
        TOKEN_REFRESH,
    }
)
# Methods the server calls, with the arguments it passes (after self) and how to write them.
LIFECYCLE = {
    "on_connect": (("sid", "environ", "auth"), "async def on_connect(self, sid, environ, auth)"),
    "after_connect": (("sid",), "async def after_connect(self, sid)"),
    "on_disconnect": (("sid", "reason"), "async def on_disconnect(self, sid, reason)"),
    "can_join": (("sid", "room"), "async def can_join(self, sid, room)"),
    "on_room_revoked": (("sid", "room"), "async def on_room_revoked(self, sid, room)"),
    "on_release": ((), "async def on_release(self)"),
}


class HandlerError(TypeError):
    """A handler class the server cannot use; the message names class and method."""


class EventSpec(NamedTuple):
    """How one event is dispatched: the method (its name, and the function the class holds
    under it), how many arguments it takes, and the parser of its declared arguments (None
    when nothing is declared: no per-event work)."""

    attr: str
    least: int
    most: float
    parse: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None
    function: Callable[..., Awaitable[Any]]


def event_table(cls: type) -> dict[str, str]:
    """Event name -> method name: ``on_<event>`` methods and those marked with ``@event``."""
    table: dict[str, str] = {}
    for attr in dir(cls):
        member = inspect.getattr_static(cls, attr, None)
        name = getattr(member, "_socketsvc_event", None)
        if name is None and (not attr.startswith("on_") or attr in LIFECYCLE):
            continue
        name = name or attr[3:]
        where = f"{class_name(cls)}.{attr}"
        if not callable(member):
            raise HandlerError(f"{where} is not a method: on_* names are reserved for events")
        if not inspect.iscoroutinefunction(member):
            raise HandlerError(
                f"{where} is a plain 'def': event handlers must be 'async def' "
                "(clients could not reach it)"
            )
        if not EVENT_NAME.match(name) or name in RESERVED_EVENTS:
            raise HandlerError(f"{where}: {name!r} cannot be an event name")
        if name in table:
            raise HandlerError(f"{where}: event {name!r} is also handled by {table[name]}")
        table[name] = attr
    return table


def server_event_table(cls: type, base: type) -> dict[str, ServerEvent[Any]]:
    """Event name -> the class's :class:`ServerEvent` declarations (its own and inherited);
    a declaration must have an event name and must not hide a method of ``base``."""
    declared: dict[str, ServerEvent[Any]] = {}  # by attribute: a subclass may override one
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, ServerEvent):
                declared[attr] = value
            else:
                declared.pop(attr, None)
    table: dict[str, ServerEvent[Any]] = {}
    for attr, declaration in declared.items():
        where = f"{class_name(cls)}.{attr}"
        if hasattr(base, attr):
            raise HandlerError(
                f"{where}: a ServerEvent would hide BaseNamespace.{attr}: name the attribute "
                f"otherwise and give the event name, ServerEvent[...]({attr!r})"
            )
        name = declaration.name
        if not EVENT_NAME.match(name) or name in RESERVED_EVENTS:
            raise HandlerError(f"{where}: {name!r} cannot be an event name")
        if name in table:
            raise HandlerError(f"{where}: event {name!r} is also declared by {table[name].attr}")
        table[name] = declaration
    return table


def check_lifecycle(cls: type, base: type) -> None:
    """The methods the server calls take the arguments it passes; ``__init__`` is callable
    with ``(namespace, services)``; a ``lifespan`` is an async generator of ``(services)``."""
    for attr, (args, shape) in LIFECYCLE.items():
        member = inspect.getattr_static(cls, attr, None)
        if member is None or member is inspect.getattr_static(base, attr, None):
            continue
        where = f"{class_name(cls)}.{attr}"
        if not inspect.iscoroutinefunction(member):
            raise HandlerError(f"{where} must be written as '{shape}'")
        if not _accepts(member, ("self", *args)):
            wanted = ", ".join(args)
            raise HandlerError(f"{where}{_signature(member)} must accept ({wanted}): {shape}")
    init = cls.__init__  # type: ignore[misc]
    if not _accepts(init, ("self", "/namespace", None)):
        raise HandlerError(
            f"{class_name(cls)}.__init__{_signature(init)} must accept (namespace, services) "
            "and pass both to super().__init__"
        )
    lifespan = inspect.getattr_static(cls, "lifespan", None)
    if lifespan is not None and lifespan is not inspect.getattr_static(base, "lifespan", None):
        function = getattr(lifespan, "__func__", lifespan)
        where = f"{class_name(cls)}.lifespan"
        if not isinstance(lifespan, classmethod) or not inspect.isasyncgenfunction(function):
            raise HandlerError(
                f"{where} must be an async generator classmethod: "
                "@classmethod async def lifespan(cls, services): ... yield ..."
            )
        if not _accepts(function, ("cls", None)):
            raise HandlerError(f"{where}{_signature(function)} must accept (services)")


def event_specs(cls: type, events: dict[str, str]) -> dict[str, EventSpec]:
    """Each event's arity and compiled argument parser.

    Raises ``NameError`` while an annotation names something not defined yet (the caller
    retries at start-up) and :class:`HandlerError` for annotations no payload can satisfy."""
    return {name: _spec(cls, attr) for name, attr in events.items()}


class Argument(NamedTuple):
    """One positional parameter of an event handler: what a client passes."""

    name: str
    annotation: Any  # Any when not annotated
    required: bool


class Arguments(NamedTuple):
    """What a client passes to an event handler (after ``self`` and ``sid``): the positional
    parameters, the type of ``*args`` items if it takes them, and the return annotation (the
    ack). Validation (here) and the published contract (socketsvc.contract) both read this."""

    positional: list[Argument]
    rest: Any | None  # the annotation of *args items; None: no *args
    returns: Any  # Any when not annotated


def arguments(cls: type, attr: str) -> Arguments:
    """Raises ``NameError`` while an annotation names something not defined yet."""
    method = getattr(cls, attr)
    params = list(inspect.signature(method).parameters.values())[2:]  # self, sid
    hints = typing.get_type_hints(method, include_extras=True)
    positional = [
        Argument(p.name, hints.get(p.name, Any), p.default is p.empty)
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    rest = next((hints.get(p.name, Any) for p in params if p.kind == p.VAR_POSITIONAL), None)
    return Arguments(positional, rest, hints.get("return", Any))


def _spec(cls: type, attr: str) -> EventSpec:
    method = getattr(cls, attr)
    positional, rest, _ = arguments(cls, attr)
    required = sum(1 for a in positional if a.required)
    most = float("inf") if rest is not None else len(positional)
    validators: list[tuple[str, schema.Validator]] = []
    for a in positional:
        try:
            validators.append((a.name, schema.compile(a.annotation)))
        except schema.SchemaError as exc:
            raise HandlerError(f"{class_name(cls)}.{attr}: parameter '{a.name}': {exc}") from None
    if all(v is schema.identity for _, v in validators):
        return EventSpec(attr, required, most, None, method)  # nothing declared: no parsing
    return EventSpec(attr, required, most, argument_parser(validators), method)


def argument_parser(
    validators: list[tuple[str, schema.Validator]],
) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """A lone payload names its fields bare (``'y'``); several are prefixed (``'point.y'``)."""
    single = len(validators) == 1

    def parse(args: tuple[Any, ...]) -> tuple[Any, ...]:
        parsed = list(args)
        for index, (name, validate) in enumerate(validators[: len(args)]):
            if validate is not schema.identity:
                try:
                    parsed[index] = validate(args[index])
                except InvalidPayload as exc:
                    raise exc if single else schema.within(exc, name) from None
        return tuple(parsed)

    return parse


def _accepts(function: Any, args: tuple[str | None, ...]) -> bool:
    """Whether ``function`` can be called with these positional arguments (a name starting
    with ``/`` or None is only a placeholder)."""
    try:
        inspect.signature(function).bind(*args)
    except TypeError:
        return False
    except ValueError:  # no signature (a builtin): assume it fits
        return True
    return True


def _signature(function: Any) -> str:
    """The parameter names, as a reader would write them: ``(self, sid, environ)``."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return "(...)"
    return (
        "("
        + ", ".join(str(p.replace(annotation=p.empty, default=p.empty)) for p in parameters)
        + ")"
    )


def class_name(cls: type) -> str:
    """``Board``, or ``Outer.Board``; never ``func.<locals>.Board``."""
    return cls.__qualname__.rsplit("<locals>.", 1)[-1]
