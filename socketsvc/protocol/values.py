"""What a handler may send beyond JSON's own types: a dataclass instance travels as its
fields, an ``Enum`` member as its value (as handlers read Enum parameters by value), a UUID as
its canonical string, a ``Decimal`` as its string (``"12.50"``: exact, where a JS number
would round), a pydantic model or msgspec Struct as its fields (``model_dump()``,
``msgspec.to_builtins``).

The encoders call :func:`fields_of` only for objects they do not know, so plain data pays
nothing. Anything else that neither format carries (a set, an arbitrary object) is a handler
bug: :func:`unsupported` names its type for the log.
"""

from __future__ import annotations

import dataclasses
import decimal
import enum
import sys
import uuid
from typing import Any

from socketsvc.errors import UnsupportedValue

_BINARY = (bytes, bytearray, memoryview)
_PLAIN = (str, int, float, bool, type(None), *_BINARY, enum.Enum, uuid.UUID, decimal.Decimal)


def fields_of(obj: Any) -> Any:
    """An encoder's ``default`` hook: a dataclass instance as a map of its fields, an Enum
    member as its value, a UUID as its string. Every wire format uses this one hook, so
    they all carry the same values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, uuid.UUID | decimal.Decimal):
        return str(obj)
    model = _model_fields(obj)
    if model is not None:
        return model
    if isinstance(obj, int):  # msgpack asks about integers beyond 64 bits too
        raise OverflowError("Integer value out of range")
    raise TypeError(f"Object of type {type(obj).__name__} is not serializable")


def _model_fields(obj: Any) -> dict[str, Any] | None:
    """A pydantic model's or msgspec Struct's fields by their wire names, else None."""
    dump = getattr(obj, "model_dump", None)
    if dump is not None and hasattr(type(obj), "model_fields"):
        fields: dict[str, Any] = dump(by_alias=True)
        return fields
    msgspec = sys.modules.get("msgspec")
    if msgspec is not None and isinstance(obj, msgspec.Struct):
        built: dict[str, Any] = msgspec.to_builtins(obj, builtin_types=(*_BINARY, decimal.Decimal))
        return built
    return None


def plain(value: Any) -> Any:
    """``value`` with every dataclass instance in it turned into a map (for the JSON
    attachment path, which looks for bytes only inside maps and lists)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in fields_of(value).items()}
    if isinstance(value, (enum.Enum, uuid.UUID, decimal.Decimal)):
        return plain(fields_of(value))
    model = _model_fields(value)
    return value if model is None else plain(model)


def unsupported(value: Any, depth: int = 0) -> str | None:
    """The type name of the first value in ``value`` that no wire format carries, if any."""
    if isinstance(value, enum.Enum):
        return unsupported(value.value, depth + 1)
    if isinstance(value, _PLAIN) or depth > 100:
        return None
    if isinstance(value, dict):
        items: Any = value.values()
    elif isinstance(value, (list, tuple)):
        items = value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = fields_of(value).values()
    elif (model := _model_fields(value)) is not None:
        items = model.values()
    else:
        return type(value).__qualname__
    for item in items:
        found = unsupported(item, depth + 1)
        if found is not None:
            return found
    return None


def unsupported_value(data: Any, exc: BaseException) -> UnsupportedValue:
    """The handler bug an encoder refused ``data`` for with ``exc`` (a TypeError), naming
    the first value of a type no wire format carries."""
    return UnsupportedValue(unsupported(data) or str(exc).split("\n")[0][:80])
