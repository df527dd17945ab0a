"""Validators for dataclass payloads, generated as Python source once per dataclass.

A dataclass request is what nearly every handler declares, so its validator runs for nearly
every event. Like ``dataclasses`` itself does for ``__init__``, it is written out as one
function: each field's type check and constraints (length, numeric bounds, patterns) are
inline statements instead of a chain of calls; nested types call their own validators. A
record whose field names cannot be keyword arguments falls back to a loop over closures.
Both behave the same: what is accepted, how it is converted, every error message.
"""

from __future__ import annotations

import dataclasses
import keyword
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, NamedTuple, Union

from socketsvc.errors import InvalidPayload

from .constraints import Constraints, constraints_of

Validator = Callable[[Any], Any]
_NONE = type(None)
_MISSING = dataclasses.MISSING


class Field(NamedTuple):
    """One init field of a dataclass payload, with its compiled validator."""

    name: str
    annotation: Any
    validate: Validator
    spec: dataclasses.Field[Any]

    @property
    def required(self) -> bool:
        return is_required(self.spec)

    @property
    def nullable(self) -> bool:
        return is_nullable(self.annotation)


def is_required(spec: dataclasses.Field[Any]) -> bool:
    """A field without a default: absent (or null, unless nullable) is refused."""
    return spec.default is _MISSING and spec.default_factory is _MISSING


def is_nullable(annotation: Any) -> bool:
    """Whether a field takes null as a value (``X | None`` or ``Any``)."""
    kind = annotation
    if typing.get_origin(kind) is Annotated:
        kind = typing.get_args(kind)[0]
    return kind is Any or (
        typing.get_origin(kind) in (Union, types.UnionType) and _NONE in typing.get_args(kind)
    )


def within(exc: InvalidPayload, key: str) -> InvalidPayload:
    """``exc`` seen from one level up: its field path prefixed with ``key``."""
    if not key:
        return exc
    field = exc.field
    path = key if not field else f"{key}{field}" if field.startswith("[") else f"{key}.{field}"
    return InvalidPayload(path, exc.problem)


def record(kind: type, fields: list[Field], scalars: dict[Any, Validator]) -> Validator:
    """The validator of dataclass ``kind``: a map in, an instance out."""
    if all(f.name.isidentifier() and not keyword.iskeyword(f.name) for f in fields):
        return _generated(kind, fields, scalars)
    return _looped(kind, fields)


def _generated(kind: type, fields: list[Field], scalars: dict[Any, Validator]) -> Validator:
    env: dict[str, Any] = {"_kind": kind, "_Invalid": InvalidPayload, "_within": within}
    lines = [
        "def validate(value):",
        "    if type(value) is not dict and not isinstance(value, dict):",
        '        raise _Invalid("", "must be an object")',
        "    get = value.get",
    ]
    for i, f in enumerate(fields):
        lines += _field_lines(i, f, env, scalars)
    arguments = ", ".join(f"{f.name}=a{i}" for i, f in enumerate(fields))
    lines.append(f"    return _kind({arguments})")
    source = "\n".join(lines)
    exec(compile(source, f"<socketsvc validator of {kind.__qualname__}>", "exec"), env)
    validate: Validator = env["validate"]
    return validate


def _field_lines(i: int, f: Field, env: dict[str, Any], scalars: dict[Any, Validator]) -> list[str]:
    name = repr(f.name)
    lines = [f"    v = get({name})", "    if v is None:"]
    if f.required and f.nullable:
        lines += [
            f"        if {name} not in value:",
            f'            raise _Invalid({name}, "is required")',
            f"        a{i} = None",
        ]
    elif f.required:
        lines.append(f'        raise _Invalid({name}, "is required")')
    elif f.spec.default_factory is not _MISSING:
        env[f"_d{i}"] = f.spec.default_factory
        lines.append(f"        a{i} = _d{i}()")
    else:
        env[f"_d{i}"] = f.spec.default
        lines.append(f"        a{i} = _d{i}")
    lines += ["    else:", "        try:"]
    inline = _inline(f.annotation, scalars)
    if inline is None:
        env[f"_f{i}"] = f.validate
        lines.append(f"            v = _f{i}(v)")
    else:
        base, plan = inline
        env[f"_t{i}"], env[f"_s{i}"] = base, scalars[base]
        # float converts ints (2 -> 2.0): only an exact float skips the scalar validator;
        # a str skips it when ASCII (O(1)), the rest is checked for lone surrogates
        test = f"type(v) is not _t{i}" + (" or not v.isascii()" if base is str else "")
        lines += [f"            if {test}:", f"                v = _s{i}(v)"]
        lines += ["            " + line for line in _check_lines(i, plan, env)]
    lines += [
        "        except _Invalid as exc:",
        f"            raise _within(exc, {name}) from None",
        f"        a{i} = v",
    ]
    return lines


def _check_lines(i: int, plan: Constraints, env: dict[str, Any]) -> list[str]:
    """``plan``'s checks on ``v`` as statements, with the closures' messages."""
    lines = []
    if plan.sized:
        test = f"n < {plan.min_len}"
        if plan.max_len is not None:
            test += f" or n > {plan.max_len}"
        env[f"_lt{i}"] = f"must have length {plan.length_text} (got "
        lines += [
            "n = len(v)",
            f"if {test}:",
            f'    raise _Invalid("", _lt{i} + str(n) + ")")',
        ]
    for j, (_, limit, op) in enumerate(plan.bounds):
        env[f"_b{i}_{j}"] = limit
        lines += [
            f"if not v {op} _b{i}_{j}:",
            f'    raise _Invalid("", f"must be {op} {{_b{i}_{j}}} (got {{v}})")',
        ]
    for j, (compiled, regex) in enumerate(plan.patterns):
        env[f"_p{i}_{j}"], env[f"_pm{i}_{j}"] = compiled, f"must match {regex}"
        lines += [f"if _p{i}_{j}.fullmatch(v) is None:", f'    raise _Invalid("", _pm{i}_{j})']
    for j, check in enumerate(plan.others):
        env[f"_o{i}_{j}"] = check
        lines.append(f"_o{i}_{j}(v)")
    return lines


def _inline(annotation: Any, scalars: dict[Any, Validator]) -> tuple[type, Constraints] | None:
    """``(scalar type, constraints)`` when a field is a scalar, optional or not, with or
    without constraints: the cases written out inline; None for everything else."""
    kind, metadata = _strip_optional(annotation), []
    if typing.get_origin(kind) is Annotated:
        kind, *metadata = typing.get_args(kind)
        kind = _strip_optional(kind)
    if kind not in scalars or typing.get_origin(kind) is Annotated:
        return None
    return kind, constraints_of(metadata, kind)


def _strip_optional(kind: Any) -> Any:
    if typing.get_origin(kind) in (Union, types.UnionType):
        options = [o for o in typing.get_args(kind) if o is not _NONE]
        if len(options) == 1:
            return options[0]
    return kind


def _looped(kind: type, fields: list[Field]) -> Validator:
    plan = [(f.name, f.validate, f.required, f.nullable) for f in fields]

    def validate(value: Any) -> Any:
        if not isinstance(value, dict):
            raise InvalidPayload("", "must be an object")
        values = {}
        for name, check, required, nullable in plan:
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
