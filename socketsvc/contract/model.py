"""The event contract of a configuration: every namespace its handler modules serve, with the
events clients send (from the ``on_<event>`` methods: their parameters and return
annotation) and the events the server sends (the class's :class:`ServerEvent` declarations).

It is read from the same places the server reads: the routes of ``load_routes`` (built-ins and
``[namespaces]``, imported and checked as at start-up), each event's :func:`arguments` (what
the validators are compiled from), the auth mode and the recovery window of each namespace.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from dataclasses import dataclass
from typing import Annotated, Any

from socketsvc.config import Settings
from socketsvc.handlers import BaseNamespace
from socketsvc.handlers.checks import arguments, class_name
from socketsvc.handlers.constraints import Length
from socketsvc.handlers.events import ServerEvent
from socketsvc.handlers.reader import Reader, SchemaError
from socketsvc.handlers.routes import HandlerRoute, load_routes
from socketsvc.security.auth import MAX_TOKEN_LENGTH, AuthModes
from socketsvc.sio.namespaces import class_windows
from socketsvc.sio.recovery import Windows
from socketsvc.sio.tokens import EXPIRING, TOKEN_REFRESH, Expiry, Refreshed

from .names import type_names, type_prefix
from .shapes import (
    AnyOf,
    Catalog,
    Incoming,
    ListOf,
    Outgoing,
    Scalar,
    Shape,
    TupleOf,
    TypeKey,
    doc_of,
    either,
)

__all__ = ["Argument", "ClientEvent", "Contract", "ContractError", "Namespace", "Values", "build"]


class ContractError(Exception):
    """An annotation the contract cannot show; the message names namespace, method and
    parameter (exit status 2, like the start-up checks)."""


@dataclass(frozen=True)
class Argument:
    name: str
    shape: Shape
    required: bool


@dataclass(frozen=True)
class Values:
    """The arguments a value the server sends travels as: a tuple spreads into several,
    ``None`` into none (``optional``: ``X | None`` is X or nothing at all)."""

    items: tuple[Shape, ...]
    rest: Shape | None = None
    optional: bool = False

    @property
    def empty(self) -> bool:
        return not self.items and self.rest is None


@dataclass(frozen=True)
class ClientEvent:
    """An event a client sends, handled by ``method``; ``ack`` is what its ack carries
    (empty when the handler returns None: a client that asks for an ack gets an empty one,
    or the error reply)."""

    name: str
    method: str
    doc: str
    arguments: tuple[Argument, ...]
    rest: Shape | None
    ack: Values


@dataclass(frozen=True)
class ServerEventInfo:
    name: str
    attr: str
    doc: str
    values: Values


@dataclass(frozen=True)
class Namespace:
    path: str  # "/chat", or a pattern: "/board/*"
    name: str  # "Chat": the prefix of its TypeScript interfaces
    handler: type[BaseNamespace]
    auth: str  # required | optional | none
    recovery: float  # seconds; 0: off
    client_events: tuple[ClientEvent, ...]
    server_events: tuple[ServerEventInfo, ...]

    @property
    def doc(self) -> str:
        return doc_of(self.handler)


@dataclass(frozen=True)
class Contract:
    namespaces: tuple[Namespace, ...]
    catalog: Catalog
    names: dict[TypeKey, str]  # what each named type is called in TypeScript and JSON Schema
    port: int
    serializer: str  # auto | json | msgpack: the parsers clients may use


def build(settings: Settings) -> Contract:
    """Import the handler modules ``settings`` names (``ConfigError`` as at start-up) and
    read their contract (:class:`ContractError`)."""
    routes = sorted(load_routes(settings), key=lambda r: r.namespace)
    windows = Windows(settings, class_windows(routes))
    modes = AuthModes(settings)
    catalog = Catalog()
    namespaces = tuple(
        _namespace(route, modes.mode(route.namespace), windows(route.namespace), catalog)
        for route in routes
    )
    fixed = {ns.name for ns in namespaces if not ns.path.endswith("*")}
    namespaces = tuple(  # /board and /board/* both served: BoardWildcard... for the pattern
        dataclasses.replace(ns, name=f"{ns.name}Wildcard")
        if ns.path.endswith("*") and ns.name in fixed
        else ns
        for ns in namespaces
    )
    seen: dict[str, str] = {}
    for ns in namespaces:
        if ns.name in seen:
            raise ContractError(
                f"namespaces {seen[ns.name]} and {ns.path} both make TypeScript names "
                f"{ns.name}...: rename one of them"
            )
        seen[ns.name] = ns.path
    interfaces = frozenset(
        f"{ns.name}{side}"
        for ns in namespaces
        for side in ("ClientToServerEvents", "ServerToClientEvents")
    )
    names = type_names(catalog, interfaces)
    return Contract(namespaces, catalog, names, settings.port, settings.serializer)


def _namespace(route: HandlerRoute, auth: str, recovery: float, catalog: Catalog) -> Namespace:
    cls = route.handler
    incoming, outgoing = Incoming(catalog), Outgoing(catalog)
    client = []
    for event, attr in sorted(cls.events.items()):
        where = f"{route.namespace}: {class_name(cls)}.{attr}"
        positional, rest, returns = arguments(cls, attr)
        args = tuple(
            Argument(
                a.name, _read(incoming, a.annotation, f"{where}: parameter '{a.name}'"), a.required
            )
            for a in positional
        )
        rest_shape = None if rest is None else _read(incoming, rest, f"{where}: parameter '*'")
        ack = _values(outgoing, returns, f"{where}: return value")
        doc = doc_of(getattr(cls, attr))
        client.append(ClientEvent(event, attr, doc, args, rest_shape, ack))
    server = []
    for event, declaration in sorted(cls.server_events.items()):
        where = f"{route.namespace}: {class_name(cls)}.{declaration.attr} (ServerEvent {event!r})"
        values = _values(outgoing, _payload(cls, declaration, where), f"{where}: payload")
        server.append(ServerEventInfo(event, declaration.attr, declaration.doc, values))
    if auth != "none":  # the server's own events of a namespace with tokens (sio/tokens.py)
        token = Argument("token", _read(incoming, TOKEN, "auth:refresh"), True)
        ack = _values(outgoing, Refreshed, "auth:refresh")
        client.append(ClientEvent(TOKEN_REFRESH, "", REFRESH_DOC, (token,), None, ack))
        expiring = _values(outgoing, Expiry, EXPIRING)
        server.append(ServerEventInfo(EXPIRING, "", EXPIRING_DOC, expiring))
    return Namespace(
        route.namespace,
        type_prefix(route.namespace),
        cls,
        auth,
        recovery,
        tuple(client),
        tuple(server),
    )


TOKEN = Annotated[str, Length(1, MAX_TOKEN_LENGTH)]
EXPIRING_DOC = (
    "The connection's token ends soon: refresh it (`auth:refresh`) before `exp`, or the "
    "connection is closed. Sent by the server itself, for every namespace with auth."
)
REFRESH_DOC = (
    "A new token (a JWT) for this connection, without reconnecting: checked as at connect, "
    "with the same subject. Answered by the server itself, for every namespace with auth."
)


def _read(reader: Reader[Shape], annotation: Any, where: str) -> Shape:
    try:
        return reader.build(annotation)
    except SchemaError as exc:
        raise ContractError(f"{where}: {exc}") from None
    except NameError as exc:  # in a type only the contract reads (what an ack or event sends)
        raise ContractError(f"{where}: annotation cannot be resolved: {exc}") from None
    except RecursionError:
        raise ContractError(f"{where}: the annotation nests too deeply") from None


def _values(reader: Reader[Shape], annotation: Any, where: str) -> Values:
    """What a returned or emitted value arrives as: ``None`` as no value at all."""
    if annotation is None or annotation is type(None):
        return Values(())
    if typing.get_origin(annotation) is tuple or annotation is tuple:
        shape = _read(reader, annotation, where)
        if isinstance(shape, TupleOf):
            return Values(shape.items)
        assert isinstance(shape, ListOf)  # tuple[X, ...]
        return Values((), rest=shape.item)
    shape = _read(reader, annotation, where)
    if isinstance(shape, AnyOf) and Scalar("null") in shape.options:
        return Values((either(*(o for o in shape.options if o != Scalar("null"))),), optional=True)
    return Values((shape,))


def _payload(cls: type, declaration: ServerEvent[Any], where: str) -> Any:
    """The declared payload type, with forward references (``ServerEvent["Later"]``)
    resolved in the class's module."""
    payload = declaration.payload
    if not isinstance(payload, str | typing.ForwardRef):
        return payload

    def holder() -> None: ...

    holder.__annotations__ = {"payload": payload}
    try:
        hints = typing.get_type_hints(
            holder, vars(sys.modules[cls.__module__]), dict(vars(cls)), include_extras=True
        )
    except NameError as exc:
        raise ContractError(f"{where}: payload annotation cannot be resolved: {exc}") from None
    return hints["payload"]
