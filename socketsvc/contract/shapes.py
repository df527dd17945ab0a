"""Payload types as the contract shows them: a small tree of shapes that the TypeScript and
AsyncAPI writers render.

What a client sends is read by :class:`Incoming`, a :class:`~socketsvc.handlers.reader.Reader`:
the same classification the server's validators are compiled from, so the contract accepts
what the server accepts (a dataclass field with a default is optional, ``X | None`` takes
null). What the server sends (acks, declared events) is read by :class:`Outgoing`, which adds
what only the server produces: every field of a dataclass or model, ``UUID``, a ``Decimal``
as its string, ``Sequence`` and ``Mapping``. An annotation with no JSON Schema or TypeScript
form raises :class:`SchemaError`.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import decimal
import enum
import typing
import uuid
from dataclasses import dataclass
from typing import Any

from socketsvc.handlers.constraints import Constraints, SchemaError
from socketsvc.handlers.reader import Reader
from socketsvc.handlers.records import is_required

__all__ = [
    "AnyOf",
    "Catalog",
    "Choice",
    "Constrained",
    "EnumType",
    "Incoming",
    "ListOf",
    "MapOf",
    "ObjectType",
    "Outgoing",
    "Property",
    "Ref",
    "Rules",
    "Scalar",
    "SchemaError",
    "Shape",
    "TupleOf",
]

_NONE = type(None)


@dataclass(frozen=True)
class Scalar:
    # string, integer, number, boolean, binary, uuid, null, unknown; decimal (a number or a
    # numeric string, as clients may send it), decimal_text (a numeric string, as sent)
    kind: str


@dataclass(frozen=True)
class Choice:
    """One of these literal values (``Literal[...]``)."""

    values: tuple[Any, ...]


@dataclass(frozen=True)
class ListOf:
    item: Shape


@dataclass(frozen=True)
class TupleOf:
    items: tuple[Shape, ...]


@dataclass(frozen=True)
class MapOf:
    item: Shape


@dataclass(frozen=True)
class AnyOf:
    options: tuple[Shape, ...]


@dataclass(frozen=True)
class Rules:
    """The constraints of an ``Annotated``: lengths (of strings, lists or maps), bounds,
    patterns (matched in full), multiples and predicates (shown by name only)."""

    min_len: int | None = None
    max_len: int | None = None
    bounds: tuple[tuple[str, int | float], ...] = ()  # (">=", 0)
    patterns: tuple[str, ...] = ()
    multiples: tuple[int | float, ...] = ()
    predicates: tuple[str, ...] = ()


@dataclass(frozen=True)
class Constrained:
    inner: Shape
    rules: Rules


@dataclass(frozen=True)
class Ref:
    """A named type (a dataclass, TypedDict or Enum), defined once in the :class:`Catalog`."""

    key: TypeKey


Shape = Scalar | Choice | ListOf | TupleOf | MapOf | AnyOf | Constrained | Ref
TypeKey = tuple[type, str]  # (class, "in" | "out" | "") : dataclasses read both ways differ


@dataclass(frozen=True)
class Property:
    name: str
    shape: Shape
    required: bool


@dataclass(frozen=True)
class ObjectType:
    properties: tuple[Property, ...]
    doc: str


@dataclass(frozen=True)
class EnumType:
    values: tuple[str | int, ...]
    doc: str


class Catalog:
    """The named types the shapes refer to, each read once (recursive types included)."""

    def __init__(self) -> None:
        self.types: dict[TypeKey, ObjectType | EnumType | None] = {}  # None: being read

    def define(self, key: TypeKey, read: typing.Callable[[], ObjectType | EnumType]) -> Ref:
        if key not in self.types:
            self.types[key] = None
            self.types[key] = read()
        return Ref(key)

    def get(self, key: TypeKey) -> ObjectType | EnumType:
        found = self.types[key]
        assert found is not None
        return found


def doc_of(kind: Any) -> str:
    """A class's or function's own docstring, on one line (``x`` as Markdown's `x`); not the
    signature ``dataclass`` writes, nor an inherited one."""
    if isinstance(kind, type):
        doc = kind.__dict__.get("__doc__") or ""
        if dataclasses.is_dataclass(kind) and doc.startswith(f"{kind.__name__}("):
            return ""
    else:
        doc = kind.__doc__ or ""
    return " ".join(doc.split()).replace("``", "`")


class Incoming(Reader[Shape]):
    """Client→server payloads: exactly what :mod:`socketsvc.handlers.schema` validates."""

    variant = "in"

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def anything(self) -> Shape:
        return Scalar("unknown")

    def null(self) -> Shape:
        return Scalar("null")

    def scalar(self, kind: type) -> Shape:
        names = {str: "string", int: "integer", float: "number", bool: "boolean"}
        return Scalar(names.get(kind, "binary"))

    def annotated(self, base: Any, inner: Shape, plan: Constraints) -> Shape:
        if not plan:
            return inner
        return Constrained(inner, rules_of(plan))

    def union(self, kind: Any, options: list[Shape], optional: bool) -> Shape:
        return either(*options, *([Scalar("null")] if optional else []))

    def literal(self, options: tuple[Any, ...]) -> Shape:
        for option in options:
            if isinstance(option, bytes):
                raise SchemaError(f"Literal[{option!r}] has no JSON Schema or TypeScript form")
        return Choice(options)

    def enumeration(self, kind: type[enum.Enum]) -> Shape:
        values = tuple(member.value for member in kind)
        return self.catalog.define((kind, ""), lambda: EnumType(values, doc_of(kind)))

    def dataclass(self, kind: type) -> Shape:
        return self.catalog.define((kind, self.variant), lambda: self.object_of(kind))

    def object_of(self, kind: type) -> ObjectType:
        properties = tuple(
            Property(f.name, self.build(hint), is_required(f)) for f, hint in self.init_fields(kind)
        )
        return ObjectType(properties, doc_of(kind))

    def decimal(self) -> Shape:
        return Scalar("decimal")

    def typed_dict(self, kind: Any) -> Shape:
        return self.catalog.define((kind, ""), lambda: self.fields_of(kind, None))

    def model(self, kind: type, library: str) -> Shape:
        return self.catalog.define((kind, self.variant), lambda: self.fields_of(kind, library))

    def fields_of(self, kind: Any, library: str | None) -> ObjectType:
        """A TypedDict's keys (``library`` None), or a pydantic or msgspec model's fields."""
        if library is None:
            fields = self.typed_dict_fields(kind)
        else:
            fields = self.model_fields(kind, library)
            if self.variant == "out":  # sent whole (model_dump, to_builtins)
                fields = [(name, hint, True) for name, hint, _ in fields]
        properties = tuple(Property(name, self.build(hint), req) for name, hint, req in fields)
        return ObjectType(properties, doc_of(kind))

    def list_of(self, item: Shape) -> Shape:
        return ListOf(item)

    def variadic_tuple(self, item: Shape) -> Shape:
        return ListOf(item)

    def fixed_tuple(self, items: list[Shape]) -> Shape:
        return TupleOf(tuple(items))

    def map_of(self, item: Shape) -> Shape:
        return MapOf(item)


class Outgoing(Incoming):
    """Server→client payloads (acks, declared events): what the encoders carry. A dataclass
    arrives with every field, an Enum member as its value, a UUID as its string."""

    variant = "out"
    cannot = "cannot be sent to a client"
    keys = "sent to a client must be strings"

    def build(self, kind: Any) -> Shape:
        if kind is uuid.UUID:  # the encoders send its canonical string
            return Scalar("uuid")
        if kind is decimal.Decimal:  # its string: exact
            return Scalar("decimal_text")
        origin = typing.get_origin(kind) or kind
        if origin is collections.abc.Sequence:
            (item,) = typing.get_args(kind) or (Any,)
            return ListOf(self.build(item))
        if origin is collections.abc.Mapping:
            key, item = typing.get_args(kind) or (str, Any)
            if key not in (str, Any):
                raise SchemaError(f"{kind}: map keys {self.keys}")
            return MapOf(self.build(item))
        return super().build(kind)

    def object_of(self, kind: type) -> ObjectType:
        hints = typing.get_type_hints(kind, include_extras=True)
        properties = tuple(
            Property(f.name, self.build(hints[f.name]), True) for f in dataclasses.fields(kind)
        )
        return ObjectType(properties, doc_of(kind))


def either(*options: Shape) -> Shape:
    """The union of ``options``, flattened; one option is itself."""
    flat: list[Shape] = []
    for option in options:
        for o in option.options if isinstance(option, AnyOf) else (option,):
            if o not in flat:
                flat.append(o)
    return flat[0] if len(flat) == 1 else AnyOf(tuple(flat))


def rules_of(plan: Constraints) -> Rules:
    """The plan's constraints as data; refused when they have no JSON Schema form."""
    bounds = []
    for _, limit, op in plan.bounds:
        bounds.append((op, _number(limit, op)))
    for _, regex in plan.patterns:
        problem = python_only(regex)
        if problem is not None:
            raise SchemaError(
                f"Pattern({regex!r}) uses {problem}, which JSON Schema (ECMA-262) patterns "
                "lack: write it in the syntax both share"
            )
    return Rules(
        min_len=plan.min_len if plan.sized and plan.min_len else None,
        max_len=plan.max_len if plan.sized else None,
        bounds=tuple(bounds),
        patterns=tuple(regex for _, regex in plan.patterns),
        multiples=tuple(_number(m, "a multiple of") for m in plan.multiples),
        predicates=tuple(plan.predicates),
    )


def _number(value: Any, what: str) -> int | float:
    if isinstance(value, decimal.Decimal) and value.is_finite():
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemaError(
            f"{what} {value!r}: JSON Schema bounds are numbers (int, float or Decimal)"
        )
    return value


def python_only(regex: str) -> str | None:
    """The first construct of Python's regex syntax in ``regex`` that ECMA-262 (JavaScript,
    JSON Schema) lacks, or None. Patterns are published as written: the common syntax means
    the same in both (bar Unicode classes: Python's ``\\d`` also matches non-ASCII digits)."""
    i, in_class = 0, False
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            if not in_class and regex[i + 1 : i + 2] in ("A", "Z"):
                return f"\\{regex[i + 1]}"
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            i += 2 if regex[i + 1 : i + 2] == "^" else 1
            if regex[i : i + 1] == "]":
                return "']' first in a character class"  # literal in Python, ends it in JS
            continue
        elif regex.startswith(("(?P<", "(?P=", "(?P>"), i):
            return "a (?P...) group"
        elif regex.startswith(("(?#", "(?>"), i) or regex[i : i + 3] in _FLAGS:
            return f"'{regex[i : i + 3]}'"
        elif char in "*+?}" and regex[i + 1 : i + 2] == "+" and regex[i - 1 : i] != "(":
            return "a possessive quantifier"
        i += 1
    return None


_FLAGS = {f"(?{flag}" for flag in "aiLmsux-"}  # inline flags
