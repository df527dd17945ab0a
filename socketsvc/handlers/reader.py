"""The one reading of a payload annotation, shared by everything that needs one.

:class:`Reader` decides what kind an annotation is (a scalar, a dataclass, a ``Literal``, a
union...) and refuses, with :class:`SchemaError`, what no client can send; what each kind
becomes is up to a subclass: a validator (``schema._Compiler``) or the JSON Schema and
TypeScript shapes of the published contract (``socketsvc.contract``). One reading for both,
so what is validated and what is published cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import decimal
import enum
import sys
import types
import typing
from typing import Annotated, Any, Generic, Literal, NotRequired, Required, TypeVar, Union

from .constraints import Constraints, SchemaError, constraints_of, type_name

__all__ = ["SCALARS", "Reader", "SchemaError", "is_schema", "model_library"]

SCALARS = (str, int, float, bool, bytes)
"""The scalar types a client can send, in the order ``schema`` maps them to validators."""
_NONE = type(None)
_QUALIFIERS = tuple(q for q in (Required, NotRequired, getattr(typing, "ReadOnly", None)) if q)
Out = TypeVar("Out")
MODEL_LIBRARIES = ("pydantic", "msgspec")


def is_schema(kind: Any) -> bool:
    """Whether an annotation is a dataclass payload."""
    return dataclasses.is_dataclass(kind) and isinstance(kind, type)


def model_library(kind: Any) -> str | None:
    """``"pydantic"`` for a pydantic ``BaseModel`` class, ``"msgspec"`` for a ``Struct``;
    None otherwise. Neither library is imported here: a module that defines a model has."""
    if not isinstance(kind, type):
        return None
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and issubclass(kind, pydantic.BaseModel):
        return "pydantic"
    msgspec = sys.modules.get("msgspec")
    if msgspec is not None and issubclass(kind, msgspec.Struct):
        return "msgspec"
    return None


class Reader(Generic[Out]):
    """Walks an annotation; the methods below :meth:`build` say what each kind becomes."""

    # How refusals read: the direction the payload travels.
    cannot = "cannot come from a client"
    keys = "from a client are strings"

    def build(self, kind: Any) -> Out:
        if kind is Any:
            return self.anything()
        if kind is None or kind is _NONE:
            return self.null()
        origin = typing.get_origin(kind)
        if origin is Annotated:
            base, *metadata = typing.get_args(kind)
            inner = self.build(base)
            return self.annotated(base, inner, constraints_of(metadata, base))
        if origin in (Union, types.UnionType):
            options = [o for o in typing.get_args(kind) if o is not _NONE]
            optional = len(options) < len(typing.get_args(kind))
            return self.union(kind, [self.build(o) for o in options], optional)
        if origin is Literal:
            return self.literal(self.literal_options(kind))
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            self.check_enum(kind)
            return self.enumeration(kind)
        if is_schema(kind):
            return self.dataclass(kind)
        if kind is decimal.Decimal:
            return self.decimal()
        if typing.is_typeddict(kind):
            return self.typed_dict(kind)
        library = model_library(kind)
        if library is not None:
            return self.model(kind, library)
        if kind is list or origin is list:
            (item,) = typing.get_args(kind) or (Any,)
            return self.list_of(self.build(item))
        if kind is tuple or kind is typing.Tuple:  # noqa: UP006 - bare: any items
            return self.variadic_tuple(self.build(Any))
        if origin is tuple:
            items = typing.get_args(kind)  # () for tuple[()] (Python 3.11+): no items
            if len(items) == 2 and items[1] is Ellipsis:
                return self.variadic_tuple(self.build(items[0]))
            return self.fixed_tuple([self.build(i) for i in items])
        if kind is dict or origin is dict:
            key, item = typing.get_args(kind) or (str, Any)
            if key not in (str, Any):
                raise SchemaError(f"{type_name(kind)}: map keys {self.keys}")
            return self.map_of(self.build(item))
        if kind not in SCALARS:
            raise SchemaError(
                f"{type_name(kind)} {self.cannot}: use str, int, float, bool, bytes, Decimal, "
                "None, list, tuple, dict[str, ...], a dataclass, a TypedDict, a pydantic or "
                "msgspec model, Literal or an Enum"
            )
        return self.scalar(kind)

    def literal_options(self, kind: Any) -> tuple[Any, ...]:
        options: tuple[Any, ...] = typing.get_args(kind)
        for option in options:
            if not isinstance(option, (str, int, bool, bytes)) and option is not None:
                raise SchemaError(f"Literal[{option!r}] {self.cannot}")
        return options

    def check_enum(self, kind: type[enum.Enum]) -> None:
        for member in kind:
            value = member.value
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                raise SchemaError(f"{kind.__name__}.{member.name}: enum values must be str or int")

    @staticmethod
    def init_fields(kind: type) -> list[tuple[dataclasses.Field[Any], Any]]:
        """The fields a client's map fills (``init`` ones), with their resolved annotations."""
        hints = typing.get_type_hints(kind, include_extras=True)
        return [(f, hints[f.name]) for f in dataclasses.fields(kind) if f.init]

    @staticmethod
    def typed_dict_fields(kind: Any) -> list[tuple[str, Any, bool]]:
        """``(key, annotation, required)`` of a TypedDict: required as the class says, with
        ``Required``/``NotRequired`` read from the resolved hints too (under ``from
        __future__ import annotations`` the class itself cannot see them)."""
        fields = []
        for name, hint in typing.get_type_hints(kind, include_extras=True).items():
            required = name in kind.__required_keys__
            while typing.get_origin(hint) in _QUALIFIERS:
                if typing.get_origin(hint) in (Required, NotRequired):
                    required = typing.get_origin(hint) is Required
                (hint,) = typing.get_args(hint)
            fields.append((name, hint, required))
        return fields

    @staticmethod
    def model_fields(kind: Any, library: str) -> list[tuple[str, Any, bool]]:
        """``(key on the wire, annotation, required)`` of a pydantic or msgspec model, its
        constraints kept in ``Annotated`` (both keep ``annotated_types`` ones there)."""
        if library == "pydantic":
            fields = []
            for name, info in kind.model_fields.items():
                hint = info.annotation
                if info.metadata:
                    hint = Annotated[(hint, *info.metadata)]
                fields.append((info.alias or name, hint, info.is_required()))
            return fields
        msgspec = sys.modules["msgspec"]
        return [(f.encode_name, f.type, f.required) for f in msgspec.structs.fields(kind)]

    # What each kind becomes.
    def anything(self) -> Out:
        raise NotImplementedError

    def null(self) -> Out:
        raise NotImplementedError

    def scalar(self, kind: type) -> Out:
        raise NotImplementedError

    def annotated(self, base: Any, inner: Out, plan: Constraints) -> Out:
        raise NotImplementedError

    def union(self, kind: Any, options: list[Out], optional: bool) -> Out:
        raise NotImplementedError

    def literal(self, options: tuple[Any, ...]) -> Out:
        raise NotImplementedError

    def enumeration(self, kind: type[enum.Enum]) -> Out:
        raise NotImplementedError

    def dataclass(self, kind: type) -> Out:
        raise NotImplementedError

    def decimal(self) -> Out:
        raise NotImplementedError

    def typed_dict(self, kind: Any) -> Out:
        raise NotImplementedError

    def model(self, kind: type, library: str) -> Out:
        raise NotImplementedError

    def list_of(self, item: Out) -> Out:
        raise NotImplementedError

    def variadic_tuple(self, item: Out) -> Out:
        raise NotImplementedError

    def fixed_tuple(self, items: list[Out]) -> Out:
        raise NotImplementedError

    def map_of(self, item: Out) -> Out:
        raise NotImplementedError
