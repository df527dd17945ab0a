"""Declared payload validation: a handler annotates its payload with a dataclass, and the
dispatcher checks the client's data against it before the handler runs.

Only what JSON and msgpack can carry is supported (str, int, float, bool, bytes, None, lists,
string-keyed maps, nested dataclasses), plus :class:`Length` and :class:`Pattern` constraints via
``Annotated``. A mismatch raises :class:`~socketsvc.errors.InvalidPayload` naming the field path,
so the client learns exactly what to fix.

A declared ``str`` must be valid Unicode: JSON can carry a lone UTF-16 surrogate (``"\\udfff"``)
and a JS string can hold one, but it has no UTF-8 form, so msgpack clients could never receive
it. It is refused where it enters, before a handler stores it and shows it to others.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Union

from socketsvc.errors import InvalidPayload
from socketsvc.protocol.json_format import has_lone_surrogate

NOT_UNICODE = "must be valid Unicode (it holds a lone surrogate)"

_MISSING = dataclasses.MISSING


@dataclass(frozen=True)
class Length:
    """Bounds on the length of a string, bytes or list (inclusive)."""

    min: int = 0
    max: int | None = None


@dataclass(frozen=True)
class Pattern:
    """A regular expression a string must match in full."""

    regex: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", re.compile(self.regex))


def is_schema(kind: Any) -> bool:
    """Whether a handler's annotation declares a payload to validate."""
    return dataclasses.is_dataclass(kind) and isinstance(kind, type)


def parse(kind: Any, value: Any, path: str = "") -> Any:
    """Check ``value`` against ``kind`` and return it converted (dataclasses are instantiated)."""
    if typing.get_origin(kind) is Annotated:
        base, *constraints = typing.get_args(kind)
        result = parse(base, value, path)
        for constraint in constraints:
            _apply(constraint, result, path)
        return result
    if kind is Any:
        return value
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        problems = []
        for option in options:
            if option is type(None):
                continue
            try:
                return parse(option, value, path)
            except InvalidPayload as exc:
                problems.append(exc)
        raise problems[0] if len(problems) == 1 else _bad(path, f"must be {_describe(kind)}")
    if is_schema(kind):
        return _parse_dataclass(kind, value, path)
    if origin is list:
        if not isinstance(value, list):
            raise _bad(path, "must be a list")
        (item,) = typing.get_args(kind) or (Any,)
        return [parse(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise _bad(path, "must be an object with string keys")
        if any(has_lone_surrogate(k) for k in value):
            raise _bad(path, "keys " + NOT_UNICODE)
        _, item = typing.get_args(kind) or (str, Any)
        return {k: parse(item, v, _join(path, k)) for k, v in value.items()}
    if kind is str and isinstance(value, str):
        if has_lone_surrogate(value):
            raise _bad(path, NOT_UNICODE)
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad(path, "must be a number")
        return float(value)
    if kind is int and isinstance(value, bool):
        raise _bad(path, "must be an integer")
    if kind is bytes and isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(kind, type) and isinstance(value, kind):
        return value
    raise _bad(path, f"must be {_describe(kind)}")


def _parse_dataclass(kind: type, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise _bad(path, "must be an object")
    hints = typing.get_type_hints(kind, include_extras=True)
    values = {}
    for f in dataclasses.fields(kind):
        where = _join(path, f.name)
        if f.name in value and value[f.name] is not None:
            values[f.name] = parse(hints[f.name], value[f.name], where)
        elif f.default is _MISSING and f.default_factory is _MISSING:
            if f.name in value and _accepts_none(hints[f.name]):
                values[f.name] = None
            else:
                raise _bad(where, "is required")
    return kind(**values)


def _accepts_none(kind: Any) -> bool:
    if typing.get_origin(kind) is Annotated:
        kind = typing.get_args(kind)[0]
    return typing.get_origin(kind) in (Union, types.UnionType) and type(None) in typing.get_args(
        kind
    )


def _apply(constraint: Any, value: Any, path: str) -> None:
    if isinstance(constraint, Length) and value is not None:
        size = len(value)
        if size < constraint.min or (constraint.max is not None and size > constraint.max):
            upper = "" if constraint.max is None else f"..{constraint.max}"
            raise _bad(path, f"must have length {constraint.min}{upper} (got {size})")
    elif (
        isinstance(constraint, Pattern)
        and value is not None
        and not constraint.compiled.fullmatch(value)  # type: ignore[attr-defined]
    ):
        raise _bad(path, f"must match {constraint.regex}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _bad(path: str, problem: str) -> InvalidPayload:
    return InvalidPayload(path, problem)


def _describe(kind: Any) -> str:
    names = {str: "a string", int: "an integer", bool: "a boolean", bytes: "binary data"}
    if kind in names:
        return names[kind]
    if typing.get_origin(kind) in (Union, types.UnionType):
        return " or ".join(_describe(k) for k in typing.get_args(kind) if k is not type(None))
    return getattr(kind, "__name__", str(kind))
