"""Declared payload validation, compiled once per handler class.

A handler annotates its parameters (usually one dataclass); :func:`compile` turns an annotation
into a validator when the class is defined, so a mistake in it (a type no client can send,
``Length`` on an ``int``) stops start-up instead of surfacing on the first event, and the event
path runs a prepared function instead of inspecting annotations per message.

What a client can send is what JSON and msgpack carry: ``str``, ``int``, ``float``, ``bool``,
``bytes``, ``None``, ``list[X]``, ``tuple[X, Y]`` / ``tuple[X, ...]`` (from an array),
``dict[str, X]``, dataclasses (from a map), ``Literal[...]``, ``Enum`` subclasses (by value)
and unions of these. Constraints go in ``Annotated``: :class:`Length`, :class:`Pattern`, and
``annotated_types``' ``Ge``/``Gt``/``Le``/``Lt``/``Interval``/``MultipleOf``,
``MinLen``/``MaxLen``/``Len`` and ``Predicate``. A mismatch raises
:class:`~socketsvc.errors.InvalidPayload` naming the field path (``points[2].x``).
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

import annotated_types as at

from socketsvc.errors import InvalidPayload

Validator = Callable[[Any], Any]
"""Returns the value converted (dataclasses instantiated, arrays as tuples where declared) or
raises :class:`InvalidPayload` with a field path relative to the value."""

_MISSING = dataclasses.MISSING
_NONE = type(None)
_SIZED = (str, bytes, list, tuple, dict)
_NUMERIC = (int, float)


class SchemaError(TypeError):
    """An annotation no client payload can satisfy, or a constraint that does not fit its type."""


@dataclass(frozen=True)
class Length:
    """Bounds on the length of a string, bytes, list, tuple or map (inclusive)."""

    min: int = 0
    max: int | None = None


@dataclass(frozen=True)
class Pattern:
    """A regular expression a string must match in full."""

    regex: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", re.compile(self.regex))


def is_schema(kind: Any) -> bool:
    """Whether an annotation is a dataclass payload."""
    return dataclasses.is_dataclass(kind) and isinstance(kind, type)


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


def within(exc: InvalidPayload, key: str) -> InvalidPayload:
    """``exc`` seen from one level up: its field path prefixed with ``key``."""
    if not key:
        return exc
    field = exc.field
    path = key if not field else f"{key}{field}" if field.startswith("[") else f"{key}.{field}"
    return InvalidPayload(path, exc.problem)


class _Compiler:
    """Builds validators; ``dataclasses`` holds the ones being built, for recursive types."""

    def __init__(self) -> None:
        self.dataclasses: dict[type, list[Validator]] = {}

    def build(self, kind: Any) -> Validator:
        if kind is Any:
            return identity
        if kind is None or kind is _NONE:
            return _none
        origin = typing.get_origin(kind)
        if origin is Annotated:
            base, *metadata = typing.get_args(kind)
            inner = self.build(base)
            checks = _checks(_flatten(metadata), base)
            return _annotated(inner, checks) if checks else inner
        if origin in (Union, types.UnionType):
            return self._union(kind)
        if origin is Literal:
            return _literal(typing.get_args(kind))
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            return _enum(kind)
        if is_schema(kind):
            return self._dataclass(kind)
        if kind is list or origin is list:
            (item,) = typing.get_args(kind) or (Any,)
            return _list(self.build(item))
        if kind is tuple or origin is tuple:
            return self._tuple(typing.get_args(kind))
        if kind is dict or origin is dict:
            key, item = typing.get_args(kind) or (str, Any)
            if key not in (str, Any):
                raise SchemaError(f"{_name(kind)}: map keys from a client are strings")
            return _dict(self.build(item))
        scalar = _SCALARS.get(kind)
        if scalar is None:
            raise SchemaError(
                f"{_name(kind)} cannot come from a client: use str, int, float, bool, bytes, "
                "None, list, tuple, dict[str, ...], a dataclass, Literal or an Enum"
            )
        return scalar

    def _union(self, kind: Any) -> Validator:
        options = [o for o in typing.get_args(kind) if o is not _NONE]
        optional = len(options) < len(typing.get_args(kind))
        validators = [self.build(o) for o in options]
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

    def _tuple(self, items: tuple[Any, ...]) -> Validator:
        if not items or (len(items) == 2 and items[1] is Ellipsis):
            return _variadic_tuple(self.build(items[0] if items else Any))
        if items == ((),):  # tuple[()]
            items = ()
        return _fixed_tuple([self.build(i) for i in items])

    def _dataclass(self, kind: type) -> Validator:
        building = self.dataclasses.get(kind)
        if building is not None:  # a recursive type: refer to the one being built
            return lambda value: building[0](value)
        cell: list[Validator] = []
        self.dataclasses[kind] = cell
        hints = typing.get_type_hints(kind, include_extras=True)
        fields = []
        for f in dataclasses.fields(kind):
            if not f.init:
                continue
            required = f.default is _MISSING and f.default_factory is _MISSING
            fields.append(
                (f.name, self.build(hints[f.name]), required, _accepts_none(hints[f.name]))
            )
        cell.append(_record(kind, fields))
        del self.dataclasses[kind]
        return cell[0]


# -- validators ---------------------------------------------------------------------------------


def _none(value: Any) -> None:
    if value is not None:
        raise InvalidPayload("", "must be null")


def _str(value: Any) -> Any:
    if type(value) is str or isinstance(value, str):
        return value
    raise InvalidPayload("", "must be a string")


def _int(value: Any) -> Any:
    if type(value) is int or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise InvalidPayload("", "must be an integer")


def _float(value: Any) -> Any:
    if type(value) is float:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise InvalidPayload("", "must be a number")


def _bool(value: Any) -> Any:
    if value is True or value is False:
        return value
    raise InvalidPayload("", "must be a boolean")


def _bytes(value: Any) -> Any:
    if type(value) is bytes:
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise InvalidPayload("", "must be binary data")


_SCALARS: dict[Any, Validator] = {str: _str, int: _int, float: _float, bool: _bool, bytes: _bytes}


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


def _record(kind: type, fields: list[tuple[str, Validator, bool, bool]]) -> Validator:
    def validate(value: Any) -> Any:
        if not isinstance(value, dict):
            raise InvalidPayload("", "must be an object")
        values = {}
        for name, check, required, nullable in fields:
            v = value.get(name)
            if v is not None:
                try:
                    values[name] = check(v)
                except InvalidPayload as exc:
                    raise within(exc, name) from None
            elif required:
                if nullable and name in value:
                    values[name] = None
                else:
                    raise InvalidPayload(name, "is required")
        return kind(**values)

    return validate


def _literal(options: tuple[Any, ...]) -> Validator:
    for option in options:
        if not isinstance(option, str | int | bool | bytes) and option is not None:
            raise SchemaError(f"Literal[{option!r}] cannot come from a client")
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
    for member in kind:
        value = member.value
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise SchemaError(f"{kind.__name__}.{member.name}: enum values must be str or int")
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


def _annotated(inner: Validator, checks: list[Callable[[Any], None]]) -> Validator:
    def validate(value: Any) -> Any:
        result = inner(value)
        if result is not None:
            for check in checks:
                check(result)
        return result

    return validate


# -- constraints --------------------------------------------------------------------------------


def _flatten(metadata: list[Any]) -> list[Any]:
    """``Annotated`` items with grouped ones (``Interval``, ``Len``) opened up."""
    out = []
    for meta in metadata:
        if isinstance(meta, at.GroupedMetadata):
            out.extend(_flatten(list(meta)))
        else:
            out.append(meta)
    return out


def _checks(metadata: list[Any], base: Any) -> list[Callable[[Any], None]]:
    """The checks ``Annotated`` items add to ``base``; length bounds merge into one check,
    foreign metadata (docs, ORM hints) adds none."""
    checks: list[Callable[[Any], None]] = []
    low, high, sized = 0, None, False
    for meta in metadata:
        if isinstance(meta, Length | at.MinLen | at.MaxLen):
            _require(base, _SIZED, meta, "has no length")
            sized = True
            if isinstance(meta, Length | at.MinLen):
                low = max(low, meta.min if isinstance(meta, Length) else meta.min_length)
            top = meta.max if isinstance(meta, Length) else getattr(meta, "max_length", None)
            if top is not None:
                high = top if high is None else min(high, top)
        elif isinstance(meta, Pattern):
            _require(base, (str,), meta, "is not a string")
            checks.append(_pattern(meta.compiled, meta.regex))  # type: ignore[attr-defined]
        elif isinstance(meta, at.Gt | at.Ge | at.Lt | at.Le | at.MultipleOf):
            _require(base, _NUMERIC, meta, "is not a number")
            checks.append(_bound(meta))
        elif isinstance(meta, at.Predicate):
            checks.append(_predicate(meta.func))
        elif isinstance(meta, at.BaseMetadata):
            raise SchemaError(f"{meta!r} is not supported on a payload")
    if sized:
        checks.insert(0, _length(low, high))
    return checks


def _require(base: Any, kinds: tuple[type, ...], meta: Any, problem: str) -> None:
    options = _leaves(base)
    if not options or not all(_is_kind(o, kinds) for o in options):
        raise SchemaError(f"{meta!r} cannot apply to {_name(base)}: it {problem}")


def _leaves(kind: Any) -> list[Any]:
    """The non-None types an annotation can hold (unions and Annotated opened up)."""
    origin = typing.get_origin(kind)
    if origin is Annotated:
        return _leaves(typing.get_args(kind)[0])
    if origin in (Union, types.UnionType):
        return [leaf for o in typing.get_args(kind) if o is not _NONE for leaf in _leaves(o)]
    return [kind]


def _is_kind(kind: Any, kinds: tuple[type, ...]) -> bool:
    actual = typing.get_origin(kind) or kind
    if actual is bool:
        return bool in kinds
    return isinstance(actual, type) and not issubclass(actual, enum.Enum) and actual in kinds


def _length(low: int, high: int | None) -> Callable[[Any], None]:
    bounds = f"at least {low}" if high is None else f"{low}..{high}"

    def check(value: Any) -> None:
        size = len(value)
        if size < low or (high is not None and size > high):
            raise InvalidPayload("", f"must have length {bounds} (got {size})")

    return check


def _pattern(compiled: re.Pattern[str], regex: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if not compiled.fullmatch(value):
            raise InvalidPayload("", f"must match {regex}")

    return check


def _bound(meta: Any) -> Callable[[Any], None]:
    if isinstance(meta, at.MultipleOf):
        step = meta.multiple_of

        def multiple(value: Any) -> None:
            if value % step:
                raise InvalidPayload("", f"must be a multiple of {step}")

        return multiple
    op, limit = {
        at.Gt: (">", getattr(meta, "gt", None)),
        at.Ge: (">=", getattr(meta, "ge", None)),
        at.Lt: ("<", getattr(meta, "lt", None)),
        at.Le: ("<=", getattr(meta, "le", None)),
    }[type(meta)]
    test: Callable[[Any], bool] = {
        ">": lambda v: v > limit,
        ">=": lambda v: v >= limit,
        "<": lambda v: v < limit,
        "<=": lambda v: v <= limit,
    }[op]

    def check(value: Any) -> None:
        if not test(value):
            raise InvalidPayload("", f"must be {op} {limit} (got {value})")

    return check


def _predicate(func: Callable[[Any], Any]) -> Callable[[Any], None]:
    name = getattr(func, "__qualname__", repr(func))

    def check(value: Any) -> None:
        if not func(value):
            raise InvalidPayload("", f"must satisfy {name}")

    return check


# -- descriptions -------------------------------------------------------------------------------


def _accepts_none(kind: Any) -> bool:
    if typing.get_origin(kind) is Annotated:
        kind = typing.get_args(kind)[0]
    return kind is Any or (
        typing.get_origin(kind) in (Union, types.UnionType) and _NONE in typing.get_args(kind)
    )


def _name(kind: Any) -> str:
    return getattr(kind, "__name__", None) or str(kind).replace("typing.", "")


def describe(kind: Any) -> str:
    """An annotation in words, for error messages a client reads."""
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        bytes: "binary data",
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
    if origin is dict or kind is dict or is_schema(kind):
        return "an object"
    if origin is Literal:
        return "one of " + ", ".join(repr(o) for o in typing.get_args(kind))
    return _name(kind)
