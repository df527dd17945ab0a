"""JSON Schema pieces the AsyncAPI writer builds payloads from: Socket.IO arguments as
arrays, enums, merged numeric bounds, decimals, binary data and the error ack."""

from __future__ import annotations

from typing import Any

from socketsvc.handlers.kinds import DECIMAL_TEXT

from .shapes import (
    AnyOf,
    Choice,
    Constrained,
    EnumType,
    ListOf,
    MapOf,
    Rules,
    Scalar,
    Shape,
    TupleOf,
)

ERROR_ACK = {
    "type": "object",
    "description": "What an acknowledged event gets instead of its ack when it fails.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "invalid_payload, unknown_event, internal, or the handler's own",
                },
                "message": {"type": "string"},
            },
        }
    },
}
BINARY = {
    "type": "string",
    "format": "binary",
    "description": "binary data: a Socket.IO binary attachment (JSON parser) or msgpack bin",
}


def array(
    doc: str, items: list[dict[str, Any]], least: int, rest: dict[str, Any] | None
) -> dict[str, Any]:
    """Socket.IO arguments as a JSON Schema array: ``items`` in order (at least ``least``
    of them), then any number of ``rest`` (else no more)."""
    array: dict[str, Any] = {"type": "array", "description": doc}
    if not items:  # only *rest (an empty tuple form is not a valid AsyncAPI schema)
        array["items"] = rest if rest is not None else {}
        return array
    array.update(items=items, minItems=least)
    if rest is None:
        array["maxItems"] = len(items)
    else:
        array["additionalItems"] = rest
    return array


def enum_of(definition: EnumType, doc: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"description": doc, "enum": list(definition.values)}
    kinds = {type(v) for v in definition.values}
    if kinds == {str}:
        schema["type"] = "string"
    elif kinds == {int}:
        schema["type"] = "integer"
    return schema


def bounds(rules: Rules) -> dict[str, int | float]:
    """Numeric bounds merged: the tightest of each kind."""
    keyword = {">=": "minimum", ">": "exclusiveMinimum", "<=": "maximum", "<": "exclusiveMaximum"}
    merged: dict[str, int | float] = {}
    for op, limit in rules.bounds:
        name = keyword[op]
        tighter = max if op in (">=", ">") else min
        merged[name] = tighter(merged[name], limit) if name in merged else limit
    return merged


# A Decimal from a client: a number, or a numeric string (bounds apply to numbers only in JSON
# Schema; the server checks them on both). Sent: always the string.
DECIMAL_PATTERN = f"^{DECIMAL_TEXT.pattern}$"  # what the server's validator takes
DECIMAL: dict[str, dict[str, Any]] = {
    "decimal": {
        "type": ["number", "string"],
        "pattern": DECIMAL_PATTERN,
        "description": 'a decimal number: a number, or a string such as "12.50"',
    },
    "decimal_text": {
        "type": "string",
        "pattern": DECIMAL_PATTERN,
        "description": 'a decimal number as a string, e.g. "12.50"',
    },
}


def json_kinds(shape: Shape) -> set[str]:
    """The JSON kinds a shape's values can be (what length keywords apply to)."""
    if isinstance(shape, Scalar):
        return {shape.kind}
    if isinstance(shape, ListOf | TupleOf):
        return {"array"}
    if isinstance(shape, MapOf):
        return {"object"}
    if isinstance(shape, AnyOf):
        return set().union(*(json_kinds(o) for o in shape.options))
    if isinstance(shape, Constrained):
        return json_kinds(shape.inner)
    if isinstance(shape, Choice):
        return {"choice"}
    return {"ref"}
