"""The constraints a handler puts in ``Annotated``: socketsvc's :class:`Length` and
:class:`Pattern`, and ``annotated_types``' ``Gt``/``Ge``/``Lt``/``Le``/``Interval``/
``MultipleOf``, ``MinLen``/``MaxLen``/``Len`` and ``Predicate``.

:func:`constraints_of` reads them once, when a handler class is defined, checks that each fits
the type it is on (``Length`` on an ``int`` is refused) and returns a :class:`Constraints` plan
that the validators run: as closures (schema.py) or inlined into generated code (records.py).
"""

from __future__ import annotations

import decimal
import enum
import operator
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Union

import annotated_types as at

from socketsvc.errors import InvalidPayload

Check = Callable[[Any], None]
Bound = tuple[Callable[[Any, Any], bool], Any, str]  # (operator.ge, 0, ">=")

_NONE = type(None)
_SIZED = (str, bytes, list, tuple, dict)
_NUMERIC = (int, float, decimal.Decimal)
_BOUNDS: dict[type, Callable[[Any], Bound]] = {
    at.Gt: lambda m: (operator.gt, m.gt, ">"),
    at.Ge: lambda m: (operator.ge, m.ge, ">="),
    at.Lt: lambda m: (operator.lt, m.lt, "<"),
    at.Le: lambda m: (operator.le, m.le, "<="),
}


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


@dataclass
class Constraints:
    """What one ``Annotated`` asks of its value, merged: all length bounds in one range, all
    numeric bounds in one list; checks run in the order length, bounds, patterns, others."""

    sized: bool = False
    min_len: int = 0
    max_len: int | None = None
    bounds: list[Bound] = field(default_factory=list)
    patterns: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    others: list[Check] = field(default_factory=list)  # MultipleOf, Predicate
    # What ``others`` checks, for the published contract (socketsvc.contract)
    multiples: list[Any] = field(default_factory=list)
    predicates: list[str] = field(default_factory=list)

    @property
    def length_text(self) -> str:
        if self.max_len is None:
            return f"at least {self.min_len}"
        return f"{self.min_len}..{self.max_len}"

    def checks(self) -> list[Check]:
        checks: list[Check] = []
        if self.sized:
            checks.append(_length(self.min_len, self.max_len, self.length_text))
        if self.bounds:
            checks.append(_range(self.bounds))
        checks.extend(_pattern(compiled, regex) for compiled, regex in self.patterns)
        checks.extend(self.others)
        return checks


def constraints_of(metadata: list[Any], base: Any) -> Constraints:
    """The plan for ``Annotated[base, *metadata]``; foreign metadata (docs, ORM hints) adds
    nothing, a constraint that cannot apply to ``base`` raises :class:`SchemaError`."""
    plan = Constraints()
    for meta in _flatten(metadata):
        if isinstance(meta, Length | at.MinLen | at.MaxLen):
            _require(base, _SIZED, meta, "has no length")
            plan.sized = True
            if isinstance(meta, Length | at.MinLen):
                low = meta.min if isinstance(meta, Length) else meta.min_length
                plan.min_len = max(plan.min_len, low)
            top = meta.max if isinstance(meta, Length) else getattr(meta, "max_length", None)
            if top is not None:
                plan.max_len = top if plan.max_len is None else min(plan.max_len, top)
        elif isinstance(meta, Pattern):
            _require(base, (str,), meta, "is not a string")
            plan.patterns.append((meta.compiled, meta.regex))  # type: ignore[attr-defined]
        elif isinstance(meta, at.Gt | at.Ge | at.Lt | at.Le):
            _require(base, _NUMERIC, meta, "is not a number")
            plan.bounds.append(_BOUNDS[type(meta)](meta))
        elif isinstance(meta, at.MultipleOf):
            _require(base, _NUMERIC, meta, "is not a number")
            step = meta.multiple_of
            if isinstance(step, float) and decimal.Decimal in _leaves(base):
                step = decimal.Decimal(repr(step))  # Decimal % float is a TypeError
            plan.others.append(_multiple(step))
            plan.multiples.append(meta.multiple_of)
        elif isinstance(meta, at.Predicate):
            plan.others.append(_predicate(meta.func))
            plan.predicates.append(predicate_name(meta.func))
        elif isinstance(meta, at.BaseMetadata):
            raise SchemaError(f"{meta!r} is not supported on a payload")
    return plan


def _flatten(metadata: list[Any]) -> list[Any]:
    """``Annotated`` items with grouped ones (``Interval``, ``Len``) opened up."""
    out = []
    for meta in metadata:
        if isinstance(meta, at.GroupedMetadata):
            out.extend(_flatten(list(meta)))
        else:
            out.append(meta)
    return out


def _require(base: Any, kinds: tuple[type, ...], meta: Any, problem: str) -> None:
    options = _leaves(base)
    if not options or not all(_is_kind(o, kinds) for o in options):
        raise SchemaError(f"{meta!r} cannot apply to {type_name(base)}: it {problem}")


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


def type_name(kind: Any) -> str:
    return getattr(kind, "__name__", None) or str(kind).replace("typing.", "")


# -- the checks, as closures --------------------------------------------------------------------


def _length(low: int, high: int | None, text: str) -> Check:
    def check(value: Any) -> None:
        size = len(value)
        if size < low or (high is not None and size > high):
            raise InvalidPayload("", f"must have length {text} (got {size})")

    return check


def _range(bounds: list[Bound]) -> Check:
    def check(value: Any) -> None:
        for test, limit, op in bounds:
            if not test(value, limit):
                raise InvalidPayload("", f"must be {op} {limit} (got {value})")

    return check


def _pattern(compiled: re.Pattern[str], regex: str) -> Check:
    def check(value: Any) -> None:
        if not compiled.fullmatch(value):
            raise InvalidPayload("", f"must match {regex}")

    return check


def _multiple(step: Any) -> Check:
    def check(value: Any) -> None:
        if value % step:
            raise InvalidPayload("", f"must be a multiple of {step}")

    return check


def predicate_name(func: Callable[[Any], Any]) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


def _predicate(func: Callable[[Any], Any]) -> Check:
    name = predicate_name(func)

    def check(value: Any) -> None:
        if not func(value):
            raise InvalidPayload("", f"must satisfy {name}")

    return check
