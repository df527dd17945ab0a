"""Declared payload validation, compiled once per handler class.

A handler annotates its parameters (usually one dataclass); :func:`compile` turns an annotation
into a validator when the class is defined, so a mistake in it (a type no client can send,
``Length`` on an ``int``) stops start-up instead of surfacing on the first event, and the event
path runs a prepared function instead of inspecting annotations per message.

What a client can send is what JSON and msgpack carry: ``str``, ``int``, ``float``, ``bool``,
``bytes``, ``None``, ``list[X]``, ``tuple[X, Y]`` / ``tuple[X, ...]`` (from an array),
``dict[str, X]``, dataclasses and ``TypedDict`` (from a map), ``Literal[...]``, ``Enum``
subclasses (by value), ``Decimal`` (from a number or a numeric string) and unions of these;
pydantic models and msgspec Structs are validated by their own library. Constraints go
in ``Annotated``: :class:`Length`, :class:`Pattern`, and
``annotated_types``' ``Ge``/``Gt``/``Le``/``Lt``/``Interval``/``MultipleOf``,
``MinLen``/``MaxLen``/``Len`` and ``Predicate``. A mismatch raises
:class:`~socketsvc.errors.InvalidPayload` naming the field path (``points[2].x``).

A declared ``str`` must be valid Unicode: JSON can carry a lone UTF-16 surrogate (``"\\udfff"``)
and a JS string can hold one, but it has no UTF-8 form, so msgpack clients could never receive
it. It is refused where it enters, before a handler stores it and shows it to others.
"""

from __future__ import annotations

import dataclasses
import decimal
import enum
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union

from socketsvc.errors import InvalidPayload
from socketsvc.protocol.json_format import has_lone_surrogate

from .constraints import Constraints, Length, Pattern, SchemaError, type_name
from .kinds import decimal_value, msgspec_struct, pydantic_model, typed_dict
from .reader import SCALARS, Reader, is_schema
from .records import Field, is_nullable, record, within

__all__ = [
    "Length",
    "Pattern",
    "Reader",
    "SchemaError",
    "compile",
    "describe",
    "is_schema",
    "parse",
    "within",
]

Validator = Callable[[Any], Any]
"""Returns the value converted (dataclasses instantiated, arrays as tuples where declared) or
raises :class:`InvalidPayload` with a field path relative to the value."""

NOT_UNICODE = "must be valid Unicode (it holds a lone surrogate)"
_MISSING = dataclasses.MISSING
_NONE = type(None)


def identity(value: Any) -> Any:
    """The validator of ``Any``: accepts everything unchanged."""
    return value


def compile(kind: Any) -> Validator:
    """The validator for one annotation; :class:`SchemaError` when it cannot be validated.

    Raises ``NameError`` when the annotation refers to a name not defined yet (a forward
    reference); callers retry once the module has finished importing."""
    return _Compiler().build(kind)


def parse(kind: Any, value: Any, path: str = "") -> Any:
    """Check ``value`` against ``kind`` once (compiles on every call: for tests and tools)."""
    try:
        return compile(kind)(value)
    except InvalidPayload as exc:
        raise within(exc, path) from None


class _Compiler(Reader[Validator]):
    """Builds validators; ``dataclasses`` holds the ones being built, for recursive types."""

    def __init__(self) -> None:
        self.dataclasses: dict[type, list[Validator]] = {}  # and TypedDicts

    def anything(self) -> Validator:
        return identity

    def null(self) -> Validator:
        return _none

    def scalar(self, kind: type) -> Validator:
        return _SCALARS[kind]

    def annotated(self, base: Any, inner: Validator, plan: Constraints) -> Validator:
        checks = plan.checks()
        return _annotated(inner, checks, base) if checks else inner

    def union(self, kind: Any, options: list[Validator], optional: bool) -> Validator:
        validators = options
        described = describe(kind)

        def union(value: Any) -> Any:
            if value is None and optional:
                return None
            problems = []
            for validate in validators:
                try:
                    return validate(value)
                except InvalidPayload as exc:
                    problems.append(exc)
            if len(problems) == 1:
                raise problems[0]
            raise InvalidPayload("", f"must be {described}")

        return union

    def literal(self, options: tuple[Any, ...]) -> Validator:
        return _literal(options)

    def enumeration(self, kind: type[enum.Enum]) -> Validator:
        return _enum(kind)

    def list_of(self, item: Validator) -> Validator:
        return _list(item)

    def variadic_tuple(self, item: Validator) -> Validator:
        return _variadic_tuple(item)

    def fixed_tuple(self, items: list[Validator]) -> Validator:
        return _fixed_tuple(items)

    def map_of(self, item: Validator) -> Validator:
        return _dict(item)

    def dataclass(self, kind: type) -> Validator:
        return self._record(kind, self._dataclass)

    def _dataclass(self, kind: type) -> Validator:
        fields = [Field(f.name, hint, self.build(hint), f) for f, hint in self.init_fields(kind)]
        return record(kind, fields, _SCALARS)

    def typed_dict(self, kind: Any) -> Validator:
        return self._record(kind, self._typed_dict)

    def _typed_dict(self, kind: Any) -> Validator:
        plan = [
            (name, self.build(hint), required, is_nullable(hint))
            for name, hint, required in self.typed_dict_fields(kind)
        ]
        return typed_dict(plan)

    def _record(self, kind: Any, make: Callable[[Any], Validator]) -> Validator:
        building = self.dataclasses.get(kind)
        if building is not None:  # a recursive type: refer to the one being built
            return lambda value: building[0](value)
        cell: list[Validator] = []
        self.dataclasses[kind] = cell
        cell.append(make(kind))
        del self.dataclasses[kind]
        return cell[0]

    def decimal(self) -> Validator:
        return decimal_value

    def model(self, kind: type, library: str) -> Validator:
        return pydantic_model(kind) if library == "pydantic" else msgspec_struct(kind)


# -- validators ---------------------------------------------------------------------------------


def _none(value: Any) -> None:
    if value is not None:
        raise InvalidPayload("", "must be null")


def _str(value: Any) -> Any:
    if type(value) is str or isinstance(value, str):
        if has_lone_surrogate(value):
            raise InvalidPayload("", NOT_UNICODE)
        return value
    raise InvalidPayload("", "must be a string")


def _int(value: Any) -> Any:
    if type(value) is int or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise InvalidPayload("", "must be an integer")


def _float(value: Any) -> Any:
    if type(value) is float:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise InvalidPayload("", "must be a number")


def _bool(value: Any) -> Any:
    if value is True or value is False:
        return value
    raise InvalidPayload("", "must be a boolean")


def _bytes(value: Any) -> Any:
    if type(value) is bytes:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise InvalidPayload("", "must be binary data")


_SCALARS: dict[Any, Validator] = dict(
    zip(SCALARS, (_str, _int, _float, _bool, _bytes), strict=True)
)


def _list(item: Validator) -> Validator:
    def validate(value: Any) -> Any:
        if not isinstance(value, list):
            raise InvalidPayload("", "must be a list")
        if item is identity:
            return value
        out = []
        for i, v in enumerate(value):
            try:
                out.append(item(v))
            except InvalidPayload as exc:
                raise within(exc, f"[{i}]") from None
        return out

    return validate


def _variadic_tuple(item: Validator) -> Validator:
    as_list = _list(item)
    return lambda value: tuple(as_list(value))


def _fixed_tuple(items: list[Validator]) -> Validator:
    size = len(items)

    def validate(value: Any) -> Any:
        if not isinstance(value, list) or len(value) != size:
            raise InvalidPayload("", f"must be a list of {size} items")
        out = []
        for i, (check, v) in enumerate(zip(items, value, strict=True)):
            try:
                out.append(check(v))
            except InvalidPayload as exc:
                raise within(exc, f"[{i}]") from None
        return tuple(out)

    return validate


def _dict(item: Validator) -> Validator:
    def validate(value: Any) -> Any:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise InvalidPayload("", "must be an object with string keys")
        if any(has_lone_surrogate(k) for k in value):
            raise InvalidPayload("", "keys " + NOT_UNICODE)
        if item is identity:
            return value
        out = {}
        for k, v in value.items():
            try:
                out[k] = item(v)
            except InvalidPayload as exc:
                raise within(exc, k) from None
        return out

    return validate


def _literal(options: tuple[Any, ...]) -> Validator:
    # By type and value: Literal[1] must not accept True, which equals 1.
    allowed = {(type(o), o) for o in options}
    shown = ", ".join(repr(o) for o in options)

    def validate(value: Any) -> Any:
        try:
            if (type(value), value) in allowed:
                return value
        except TypeError:  # unhashable: a list or a map
            pass
        raise InvalidPayload("", f"must be one of {shown}")

    return validate


def _enum(kind: type[enum.Enum]) -> Validator:
    """By value; ``IntEnum`` values must arrive as integers, ``StrEnum`` ones as strings."""
    members: dict[tuple[type, Any], enum.Enum] = {}
    for member in kind:  # values checked by Reader.check_enum
        value = member.value
        members[(str if isinstance(value, str) else int, value)] = member
    shown = ", ".join(repr(m.value) for m in kind)

    def validate(value: Any) -> Any:
        try:
            member = members.get((type(value), value))
        except TypeError:  # unhashable: a list or a map
            member = None
        if member is None:
            raise InvalidPayload("", f"must be one of {shown}")
        return member

    return validate


def _annotated(inner: Validator, checks: list[Callable[[Any], None]], base: Any) -> Validator:
    """``inner`` then the constraints; a value of exactly a scalar base type skips ``inner``
    (the common case, and this runs for every constrained field of every event)."""
    # (not str either: only _str sees a lone surrogate; it tells ASCII in O(1))
    exact = base if base in _SCALARS and base not in (float, str) else None
    if len(checks) == 1:
        (check,) = checks

        def validate_one(value: Any) -> Any:
            if type(value) is not exact:
                value = inner(value)
                if value is None:
                    return None
            check(value)
            return value

        return validate_one

    def validate(value: Any) -> Any:
        if type(value) is not exact:
            value = inner(value)
            if value is None:
                return None
        for check in checks:
            check(value)
        return value

    return validate


# -- descriptions -------------------------------------------------------------------------------


def describe(kind: Any) -> str:
    """An annotation in words, for error messages a client reads."""
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        bytes: "binary data",
        decimal.Decimal: "a decimal number",
    }
    if kind in names:
        return str(names[kind])
    origin = typing.get_origin(kind)
    if origin is Annotated:
        return describe(typing.get_args(kind)[0])
    if origin in (Union, types.UnionType):
        return " or ".join(describe(k) for k in typing.get_args(kind) if k is not _NONE)
    if origin is list or kind is list:
        return "a list"
    if origin is tuple or kind is tuple:
        return "a list"
    if origin is dict or kind is dict or is_schema(kind) or typing.is_typeddict(kind):
        return "an object"
    if origin is Literal:
        return "one of " + ", ".join(repr(o) for o in typing.get_args(kind))
    return type_name(kind)
