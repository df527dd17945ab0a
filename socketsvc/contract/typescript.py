"""The contract as TypeScript: per namespace an interface pair for socket.io-client's typed
``Socket<ServerToClientEvents, ClientToServerEvents>``, and the payload types, named after the
Python classes. Constraints TypeScript cannot state (lengths, bounds, patterns) are written
as doc comments; the server checks them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from socketsvc.protocol.json_format import has_lone_surrogate

from .model import ClientEvent, Contract, Namespace, ServerEventInfo, Values
from .shapes import (
    AnyOf,
    Choice,
    Constrained,
    EnumType,
    ListOf,
    MapOf,
    ObjectType,
    Rules,
    Scalar,
    Shape,
    TupleOf,
)

HEADER = """\
// The event contract of a socketsvc server, written by `socketsvc contract --format typescript`
// from its handler modules. Do not edit: run the command again when they change.
//
// With socket.io-client: `const socket: Socket<ChatServerToClientEvents,
// ChatClientToServerEvents> = io("https://example.com/chat")` (each namespace has its pair)."""

ERROR_ACK = """\
/** What an acknowledged event gets instead of its ack when it fails (`invalid_payload`,
 * `unknown_event`, `internal`, or the handler's own code). */
export interface ErrorAck {
  error: { code: string; message: string };
}"""

BINARY = """\
/** Binary data: a Socket.IO binary attachment (JSON parser) or msgpack bin. Received as a
 * Buffer in Node and an ArrayBuffer in browsers; any of them may be sent. */
export type Binary = ArrayBuffer | ArrayBufferView;"""

SCALARS = {
    "string": "string",
    "integer": "number",
    "number": "number",
    "boolean": "boolean",
    "binary": "Binary",
    "uuid": "string",
    "decimal": "number | string",  # "12.50" keeps every digit
    "decimal_text": "string",
    "null": "null",
    "unknown": "unknown",
}
IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
# Words a TypeScript parameter cannot be named (a Python parameter can).
_KEYWORDS = (
    "arguments await break case catch class const continue debugger default delete do else "
    "enum eval export extends false finally for function if implements import in instanceof "
    "interface let new null package private protected public return static super switch this "
    "throw true try typeof var void while with yield"
)
KEYWORDS = frozenset(_KEYWORDS.split())


def render(contract: Contract) -> str:
    writer = _Writer(contract)
    parts = [HEADER, ERROR_ACK]
    for ns in contract.namespaces:
        parts.append(writer.client_interface(ns))
        parts.append(writer.server_interface(ns))
    parts.extend(writer.types())
    if writer.uses_binary:
        parts.insert(2, BINARY)
    return "\n\n".join(parts) + "\n"


@dataclass(frozen=True)
class _Param:
    label: str
    type: str
    optional: bool = False
    rest: bool = False  # ...label: type (type is an array)

    def as_param(self) -> str:
        return (
            f"{'...' if self.rest else ''}{self.label}{'?' if self.optional else ''}: {self.type}"
        )


class _Writer:
    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.uses_binary = False

    # -- the interfaces ---------------------------------------------------------------------

    def client_interface(self, ns: Namespace) -> str:
        auth = {
            "required": " Connect with `auth: {token}`, a JWT: it is required.",
            "optional": " `auth: {token}` (a JWT) is optional: it identifies the client.",
        }.get(ns.auth, "")
        head = (
            f"Events a client sends on `{_pattern(ns.path)}` "
            f"({ns.handler.__module__}:{ns.handler.__qualname__}).{auth}"
        )
        members = [
            self._member(e.name, _join(e.doc, _argument_rules(e)), self._client_signature(e))
            for e in ns.client_events
        ]
        return _interface(f"{ns.name}ClientToServerEvents", head, members)

    def server_interface(self, ns: Namespace) -> str:
        head = f"Events the server sends on `{_pattern(ns.path)}`."
        if ns.recovery:
            head += (
                f" Connection-state recovery is on ({ns.recovery:g} s): the events kept for "
                "clients that drop and come back (all but volatile ones and emits with an ack) "
                "carry their offset as a last argument, which socket.io-client reads itself."
            )
        members = [
            self._member(e.name, e.doc, self._server_signature(e, ns)) for e in ns.server_events
        ]
        return _interface(f"{ns.name}ServerToClientEvents", head, members)

    def _member(self, event: str, doc: str, signature: str) -> str:
        key = event if IDENTIFIER.match(event) else json.dumps(event)
        return _doc(doc, "  ") + f"  {key}: {signature};"

    def _client_signature(self, event: ClientEvent) -> str:
        taken = {a.name for a in event.arguments}
        params = [
            _Param(_label(a.name), self.type(a.shape), not a.required) for a in event.arguments
        ]
        rest = (
            _Param("rest", self._array(event.rest), rest=True) if event.rest is not None else None
        )
        label = "ack" if "ack" not in taken else "callback"
        if event.ack.empty:  # optional: a client asks for the (empty or error) ack or not
            ack = _Param(label, "(error?: ErrorAck) => void", optional=True)
            return _function([[*params, *([rest] if rest else []), ack]])
        ack = _Param(label, self._callback(event.ack))
        required = [p for p in params if not p.optional]
        optional = [_Param(p.label, p.type) for p in params if p.optional]
        alternatives = [[*required, *optional[:n], ack] for n in range(len(optional) + 1)]
        if rest is not None:
            alternatives[-1].insert(-1, rest)
        return _function(alternatives)

    def _callback(self, ack: Values) -> str:
        error = "ErrorAck"
        if ack.items == (Scalar("unknown"),) and ack.rest is None:
            return "(reply: unknown) => void"  # ErrorAck included
        if not ack.items and ack.rest == Scalar("unknown"):
            return "(...reply: unknown[]) => void"
        if len(ack.items) == 1 and ack.rest is None:
            reply = _Param("reply", f"{self.type(ack.items[0])} | {error}", ack.optional)
            return f"({reply.as_param()}) => void"
        values = self._tuple(ack.items, ack.rest)
        return f"(...reply: {values} | [{error}]) => void"

    def _server_signature(self, event: ServerEventInfo, ns: Namespace) -> str:
        values = event.values
        params = [
            _Param("payload" if len(values.items) == 1 else f"arg{i}", self.type(s))
            for i, s in enumerate(values.items, 1)
        ]
        alternatives = [params] if not values.optional else [params, []]
        if values.rest is not None:
            rest_type = (
                self._array(values.rest)
                if not ns.recovery
                else f"({self.type(values.rest)} | string)[]"
            )
            return _function([[*params, _Param("rest", rest_type, rest=True)]])
        if ns.recovery:
            alternatives = [[*a, _Param("offset", "string", optional=True)] for a in alternatives]
        return _function(alternatives)

    def _tuple(self, items: tuple[Shape, ...], rest: Shape | None) -> str:
        if not items and rest is not None:
            return self._array(rest)
        parts = [self.type(s) for s in items]
        if rest is not None:
            parts.append(f"...{self._array(rest)}")
        return f"[{', '.join(parts)}]"

    def _array(self, item: Shape | None) -> str:
        assert item is not None
        inner = self.type(item)
        return f"({inner})[]" if " " in inner else f"{inner}[]"

    # -- payload types ----------------------------------------------------------------------

    def types(self) -> list[str]:
        rendered: dict[str, str] = {}
        for key, definition in self.contract.catalog.types.items():
            name = self.contract.names[key]
            if name in rendered:
                continue
            assert definition is not None
            cls = key[0]
            origin = f"{cls.__module__}.{cls.__qualname__}"
            if isinstance(definition, EnumType):
                doc = _join(definition.doc, f"(Python: {origin})")
                values = " | ".join(_literal(v) for v in definition.values) or "never"
                rendered[name] = _doc(doc, "") + f"export type {name} = {values};"
            else:
                rendered[name] = self._object(name, definition, origin)
        return [rendered[name] for name in sorted(rendered)]

    def _object(self, name: str, definition: ObjectType, origin: str) -> str:
        members = []
        for p in definition.properties:
            key = p.name if IDENTIFIER.match(p.name) else json.dumps(p.name)
            members.append(
                _doc(_rules_text(p.shape), "  ")
                + f"  {key}{'' if p.required else '?'}: {self.type(p.shape)};"
            )
        return _interface(name, _join(definition.doc, f"(Python: {origin})"), members)

    def type(self, shape: Shape) -> str:
        if isinstance(shape, Scalar):
            self.uses_binary |= shape.kind == "binary"
            return SCALARS[shape.kind]
        if isinstance(shape, Choice):
            return " | ".join(_literal(v) for v in shape.values) or "never"
        if isinstance(shape, ListOf):
            return self._array(shape.item)
        if isinstance(shape, TupleOf):
            return self._tuple(shape.items, None)
        if isinstance(shape, MapOf):
            return f"{{ [key: string]: {self.type(shape.item)} }}"
        if isinstance(shape, AnyOf):
            return " | ".join(self.type(o) for o in shape.options)
        if isinstance(shape, Constrained):
            return self.type(shape.inner)
        return self.contract.names[shape.key]


def _interface(name: str, doc: str, members: list[str]) -> str:
    body = "".join(f"{m}\n" for m in members)
    return _doc(doc, "") + f"export interface {name} {{{chr(10) if body else ''}{body}}}"


def _function(alternatives: list[list[_Param]]) -> str:
    """One parameter list, or a union of argument tuples when there are several (or a
    parameter follows ``...rest``)."""
    (first, *others) = alternatives
    if not others and not any(p.rest for p in first[:-1]):
        return f"({', '.join(p.as_param() for p in first)}) => void"
    tuples = " | ".join(f"[{', '.join(p.as_param() for p in a)}]" for a in alternatives)
    return f"(...args: {tuples}) => void"


def _label(name: str) -> str:
    return f"{name}_" if name in KEYWORDS else name


def _literal(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return json.dumps(text, ensure_ascii=has_lone_surrogate(text))


def _argument_rules(event: ClientEvent) -> str:
    """The constraints on an event's arguments (a payload's own are on its type)."""
    found = [(a.name, _rules_text(a.shape)) for a in event.arguments]
    return " ".join(f"`{name}`: {text}." for name, text in found if text)


def _rules_text(shape: Shape) -> str:
    """The constraints on a property, in words, for its doc comment."""
    found = [shape] if isinstance(shape, Constrained) else []
    if isinstance(shape, AnyOf):
        found = [o for o in shape.options if isinstance(o, Constrained)]
    return "; ".join(_rules(c.rules) for c in found)


def _rules(rules: Rules) -> str:
    words = []
    if rules.max_len is None and rules.min_len is not None:
        words.append(f"length >= {rules.min_len}")
    elif rules.max_len is not None:
        low = rules.min_len
        words.append(
            f"length <= {rules.max_len}" if low is None else f"length {low}..{rules.max_len}"
        )
    words.extend(f"{op} {limit}" for op, limit in rules.bounds)
    words.extend(f"matches `{regex}` in full" for regex in rules.patterns)
    words.extend(f"a multiple of {m}" for m in rules.multiples)
    words.extend(f"satisfies {name} (checked by the server)" for name in rules.predicates)
    return ", ".join(words)


def _pattern(path: str) -> str:
    return path[:-1] + "<name>" if path.endswith("*") else path


def _join(*texts: str) -> str:
    return " ".join(t for t in texts if t)


def _doc(text: str, indent: str) -> str:
    """A JSDoc comment (empty for no text), wrapped at 100 columns."""
    if not text:
        return ""
    text = text.replace("*/", "*\\/")
    width = 100 - len(indent) - 3
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) == 1 and len(lines[0]) <= width - 4:
        return f"{indent}/** {lines[0]} */\n"
    body = "".join(f"{indent} * {line}\n" for line in lines)
    return f"{indent}/**\n{body}{indent} */\n"
