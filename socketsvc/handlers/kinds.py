"""Payload kinds beyond JSON's own shapes, for :mod:`socketsvc.handlers.schema`: ``Decimal``
(money: from a number or a numeric string, never through a float), ``TypedDict`` (a map in, a
dict of the declared keys out), and pydantic models and msgspec Structs, validated by their
own library with its first error turned into ``invalid_payload`` naming the field path."""

from __future__ import annotations

import decimal
import math
import re
import sys
from collections.abc import Callable
from typing import Any

from socketsvc.errors import InvalidPayload

from .records import within

Validator = Callable[[Any], Any]

DECIMAL_TEXT = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
DECIMAL_RANGE = 1000  # powers of ten either way: beyond, arithmetic on it would be a hazard
NOT_DECIMAL = 'must be a decimal number (a number, or a string such as "12.50")'


def decimal_value(value: Any) -> Any:
    """A ``Decimal`` from a number (a float as the shortest text that reads back as it: what
    the client wrote) or from a numeric string, which keeps every digit."""
    if isinstance(value, str):
        if len(value) > 100 or DECIMAL_TEXT.fullmatch(value) is None:
            raise InvalidPayload("", NOT_DECIMAL)
        number = decimal.Decimal(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = decimal.Decimal(value)
    elif isinstance(value, float) and math.isfinite(value):
        number = decimal.Decimal(repr(value))
    else:
        raise InvalidPayload("", NOT_DECIMAL)
    if number and abs(number.adjusted()) > DECIMAL_RANGE:
        raise InvalidPayload("", f"must be within 1e-{DECIMAL_RANGE}..1e{DECIMAL_RANGE}")
    return number


def typed_dict(plan: list[tuple[str, Validator, bool, bool]]) -> Validator:
    """A map in, a dict of the declared keys out (others ignored, as for dataclasses); null
    for a key that is not required and not nullable counts as absent."""

    def validate(value: Any) -> Any:
        if not isinstance(value, dict):
            raise InvalidPayload("", "must be an object")
        out = {}
        for name, check, required, nullable in plan:
            v = value.get(name)
            if v is not None:
                try:
                    out[name] = check(v)
                except InvalidPayload as exc:
                    raise within(exc, name) from None
            elif nullable and name in value:
                out[name] = None
            elif required:
                raise InvalidPayload(name, "is required")
        return out

    return validate


def pydantic_model(kind: Any) -> Validator:
    """The model's own ``model_validate``; its first error as ``invalid_payload`` naming the
    field path (``items[2].x``) and pydantic's message."""
    error = sys.modules["pydantic"].ValidationError
    validate = kind.model_validate

    def check(value: Any) -> Any:
        if not isinstance(value, dict):
            raise InvalidPayload("", "must be an object")
        try:
            return validate(value)
        except error as exc:
            first = exc.errors(include_url=False)[0]
            raise InvalidPayload(_path(first["loc"]), _lower(first["msg"])) from None

    return check


def msgspec_struct(kind: Any) -> Validator:
    """``msgspec.convert`` to the Struct; its error (``... - at `$.items[2].x```) as
    ``invalid_payload`` naming the field path."""
    msgspec = sys.modules["msgspec"]
    convert, error = msgspec.convert, msgspec.ValidationError

    def check(value: Any) -> Any:
        try:
            return convert(value, kind)
        except error as exc:
            problem, _, where = str(exc).partition(" - at `$")
            raise InvalidPayload(where.rstrip("`").lstrip("."), _lower(problem)) from None

    return check


def _path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]
