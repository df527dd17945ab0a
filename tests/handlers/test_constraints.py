"""Every constraint kind, alone and combined, wherever a handler can declare it.

A constraint is compiled into one of several validators: a closure for a top-level parameter
or a list item (schema.py), a statement inlined into a dataclass's generated validator, or a
closure called by the looped one (records.py), each with an optional form. A mistake in one of
them passes the tests of the others, so each case runs through every one of these places and
must accept and refuse exactly the same values with the same message; the boundary values sit
right at each bound.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import operator
import typing
from collections.abc import Callable
from dataclasses import field
from typing import Annotated, Any, Literal, NamedTuple

import annotated_types as at
import pytest

from socketsvc.errors import InvalidPayload
from socketsvc.handlers import records, schema
from socketsvc.handlers.schema import NOT_UNICODE, Length, Pattern, SchemaError, compile

Validator = Callable[[Any], Any]
LONE = "\udfff"  # a lone surrogate: valid JSON, not valid Unicode


def is_even(value: int) -> bool:
    return value % 2 == 0


class Case(NamedTuple):
    base: Any
    metadata: tuple[Any, ...]
    accepted: list[tuple[Any, Any]]  # (value sent, value the handler gets)
    refused: list[tuple[Any, str]]  # (value sent, problem)


def same(*values: Any) -> list[tuple[Any, Any]]:
    return [(v, v) for v in values]


CASES = {
    # -- lengths, alone --------------------------------------------------------------------
    "str-length": Case(
        str,
        (Length(2, 4),),
        same("ab", "abcd", "éé", "日本語"),
        [("a", "must have length 2..4 (got 1)"), ("abcde", "must have length 2..4 (got 5)")],
    ),
    "str-minlen": Case(
        str, (at.MinLen(2),), same("ab", "a" * 100), [("a", "must have length at least 2 (got 1)")]
    ),
    "str-maxlen": Case(
        str, (at.MaxLen(3),), same("", "abc"), [("abcd", "must have length 0..3 (got 4)")]
    ),
    "bytes-len": Case(
        bytes,
        (at.Len(1, 2),),
        same(b"a", b"ab"),
        [(b"", "must have length 1..2 (got 0)"), (b"abc", "must have length 1..2 (got 3)")],
    ),
    "list-length": Case(
        list[int],
        (Length(1, 2),),
        same([1], [1, 2]),
        [([], "must have length 1..2 (got 0)"), ([1, 2, 3], "must have length 1..2 (got 3)")],
    ),
    "dict-maxlen": Case(
        dict[str, int],
        (at.MaxLen(1),),
        same({}, {"a": 1}),
        [({"a": 1, "b": 2}, "must have length 0..1 (got 2)")],
    ),
    "tuple-minlen": Case(
        tuple[int, ...],
        (at.MinLen(1),),
        [([1], (1,)), ([1, 2], (1, 2))],
        [([], "must have length at least 1 (got 0)")],
    ),
    # -- lengths, combined: the tighter bound wins, whatever the order ------------------------
    "max-then-tighter-max": Case(
        str,
        (Length(0, 5), at.MaxLen(3)),
        same("abc"),
        [("abcd", "must have length 0..3 (got 4)")],
    ),
    "tighter-max-then-max": Case(
        str,
        (at.MaxLen(3), Length(0, 5)),
        same("abc"),
        [("abcd", "must have length 0..3 (got 4)")],
    ),
    "min-then-tighter-min": Case(
        str,
        (Length(1, 5), at.MinLen(2)),
        same("ab", "abcde"),
        [("a", "must have length 2..5 (got 1)"), ("abcdef", "must have length 2..5 (got 6)")],
    ),
    "tighter-min-then-min": Case(
        list[int],
        (at.MinLen(2), Length(1, 5)),
        same([1, 2]),
        [([1], "must have length 2..5 (got 1)")],
    ),
    "len-and-maxlen": Case(
        bytes,
        (at.Len(2, 6), at.MaxLen(4), at.MinLen(1)),
        same(b"ab", b"abcd"),
        [(b"a", "must have length 2..4 (got 1)"), (b"abcde", "must have length 2..4 (got 5)")],
    ),
    # -- numeric bounds, alone ---------------------------------------------------------------
    "int-ge": Case(
        int,
        (at.Ge(3),),
        same(3, 10**20),
        [(2, "must be >= 3 (got 2)"), (True, "must be an integer"), (3.0, "must be an integer")],
    ),
    "int-gt": Case(int, (at.Gt(3),), same(4), [(3, "must be > 3 (got 3)")]),
    "int-le": Case(int, (at.Le(3),), same(3, -5), [(4, "must be <= 3 (got 4)")]),
    "int-lt": Case(int, (at.Lt(3),), same(2), [(3, "must be < 3 (got 3)")]),
    "float-interval": Case(
        float,
        (at.Interval(gt=0, le=1),),
        [(1.0, 1.0), (0.5, 0.5), (1, 1.0)],  # an int arrives as a float
        [
            (0.0, "must be > 0 (got 0.0)"),
            (0, "must be > 0 (got 0.0)"),
            (1.5, "must be <= 1 (got 1.5)"),
            (False, "must be a number"),
            ("1", "must be a number"),
        ],
    ),
    "int-multiple": Case(
        int, (at.MultipleOf(3),), same(0, 9, -3), [(4, "must be a multiple of 3")]
    ),
    "float-multiple": Case(
        float, (at.MultipleOf(0.5),), [(1.5, 1.5), (2, 2.0)], [(1.2, "must be a multiple of 0.5")]
    ),
    "predicate": Case(int, (at.Predicate(is_even),), same(2), [(3, "must satisfy is_even")]),
    "predicate-falsy-answer": Case(  # any falsy answer refuses, not only False
        str, (at.Predicate(len),), same("a"), [("", "must satisfy len")]
    ),
    "pattern-full-match": Case(
        str,
        (Pattern(r"[a-z]+"),),
        same("abc"),
        [("abc1", "must match [a-z]+"), ("1abc", "must match [a-z]+"), ("", "must match [a-z]+")],
    ),
    # -- numeric bounds, combined: every one of them holds -----------------------------------
    "two-lower-bounds": Case(int, (at.Ge(0), at.Ge(5)), same(5), [(4, "must be >= 5 (got 4)")]),
    "two-lower-bounds-reversed": Case(
        int, (at.Ge(5), at.Ge(0)), same(5), [(4, "must be >= 5 (got 4)")]
    ),
    "range-and-multiple": Case(
        int,
        (at.Interval(ge=0, lt=10), at.MultipleOf(5)),
        same(0, 5),
        [
            (10, "must be < 10 (got 10)"),
            (-5, "must be >= 0 (got -5)"),
            (3, "must be a multiple of 5"),
        ],
    ),
    "bounds-and-predicate": Case(
        int,
        (at.Ge(0), at.Le(10), at.Predicate(is_even)),
        same(0, 10),
        [(12, "must be <= 10 (got 12)"), (7, "must satisfy is_even")],
    ),
    # -- strings: length before pattern, every pattern holds --------------------------------
    "length-then-pattern": Case(
        str,
        (Pattern(r"[a-z]+"), Length(1, 3)),
        same("abc"),
        [("ABCD", "must have length 1..3 (got 4)"), ("AB", "must match [a-z]+")],
    ),
    "two-patterns": Case(
        str,
        (Pattern(r"[a-z]+"), Pattern(r".{2,}")),
        same("ab"),
        [("a", "must match .{2,}"), ("a1", "must match [a-z]+")],
    ),
}


# -- the places a declaration can be ------------------------------------------------------------
class Way(NamedTuple):
    """Where an annotation is declared: its validator, how a value is sent there and how the
    handler gets it back, and the field path of a problem with it."""

    validator: Validator
    wrap: Callable[[Any], Any]
    unwrap: Callable[[Any], Any]
    path: str


def holder(annotation: Any, optional: bool = False) -> type:
    if optional:
        spec: Any = ("value", annotation | None, field(default=None))
    else:
        spec = ("value", annotation)
    return dataclasses.make_dataclass("Holder", [spec], frozen=True)


def looped(kind: type) -> Validator:
    """The loop-over-closures validator of dataclass ``kind`` (used for field names that
    cannot be keyword arguments; built directly here, as the generated one is for the rest)."""
    compiler = schema._Compiler()
    hints = typing.get_type_hints(kind, include_extras=True)
    fields = [
        records.Field(f.name, hints[f.name], compiler.build(hints[f.name]), f)
        for f in dataclasses.fields(kind)
    ]
    return records._looped(kind, fields)


def ways(annotation: Any) -> dict[str, Way]:
    plain, optional = holder(annotation), holder(annotation, optional=True)

    outer = dataclasses.make_dataclass("Outer", [("inner", plain)])

    def field_value(v: Any) -> Any:
        return {"value": v}

    def get(h: Any) -> Any:
        return h.value

    return {
        "parameter": Way(compile(annotation), lambda v: v, lambda v: v, ""),
        "optional parameter": Way(compile(annotation | None), lambda v: v, lambda v: v, ""),
        "list item": Way(compile(list[annotation]), lambda v: [v], lambda v: v[0], "[0]"),
        "map value": Way(compile(dict[str, annotation]), lambda v: {"k": v}, lambda v: v["k"], "k"),
        "field": Way(compile(plain), field_value, get, "value"),
        "optional field": Way(compile(optional), field_value, get, "value"),
        "looped field": Way(looped(plain), field_value, get, "value"),
        "nested field": Way(
            compile(outer),
            lambda v: {"inner": {"value": v}},
            lambda o: o.inner.value,
            "inner.value",
        ),
    }


def problem(validate: Validator, value: Any) -> tuple[str, str]:
    with pytest.raises(InvalidPayload) as caught:
        validate(value)
    return caught.value.field, caught.value.problem


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_constraint_holds_alone_and_combined_wherever_it_is_declared(case: Case) -> None:
    annotation = Annotated[(case.base, *case.metadata)]  # type: ignore[valid-type]
    for where, way in ways(annotation).items():
        for sent, got in case.accepted:
            out = way.unwrap(way.validator(way.wrap(sent)))
            assert (out, type(out)) == (got, type(got)), (where, sent)
        for sent, expected in case.refused:
            assert problem(way.validator, way.wrap(sent)) == (way.path, expected), (where, sent)


@pytest.mark.parametrize(
    "base, metadata",
    [
        (int, (at.Ge(1),)),  # one check
        (int, (at.Ge(1), at.MultipleOf(2))),  # several
        (str, (Length(1, 3), Pattern("a+"))),
    ],
)
def test_null_skips_the_constraints_of_an_optional_declaration_only(
    base: Any, metadata: tuple[Any, ...]
) -> None:
    constrained = Annotated[(base, *metadata)]  # type: ignore[valid-type]
    inside = Annotated[(base | None, *metadata)]  # type: ignore[valid-type]
    for annotation in (constrained | None, inside):
        assert compile(annotation)(None) is None
        for validate in (compile(holder(annotation)), looped(holder(annotation))):
            assert validate({"value": None}).value is None  # required, and nullable
    for where, way in ways(constrained).items():
        if where.startswith("optional"):
            assert way.unwrap(way.validator(way.wrap(None))) is None, where
        else:
            assert problem(way.validator, way.wrap(None))[0] == way.path, where


# -- valid Unicode, wherever a string is declared -----------------------------------------------
STRINGS = {
    "str": str,
    "length": Annotated[str, Length(1, 8)],
    "pattern": Annotated[str, Pattern(r".+")],
    "minlen and predicate": Annotated[str, at.MinLen(1), at.Predicate(str.isprintable)],
    "optional inside": Annotated[str | None, Length(1, 8)],
    "union": str | bytes,
}


@pytest.mark.parametrize("kind", STRINGS.values(), ids=STRINGS.keys())
def test_a_lone_surrogate_is_refused_wherever_a_string_is_declared(kind: Any) -> None:
    """The defence of #14 (a lone surrogate stored and shown to msgpack clients, who cannot
    receive it) holds for a constrained string outside a dataclass as much as inside one;
    any other non-ASCII text passes."""
    for where, way in ways(kind).items():
        for bad in (LONE, "ab" + LONE, LONE + "é"):
            field_path, text = problem(way.validator, way.wrap(bad))
            assert field_path == way.path, (where, bad)
            assert text in (NOT_UNICODE, "must be a string or binary data"), (where, bad)
        for good in ("é", "日本", "\U0001f600"):
            assert way.unwrap(way.validator(way.wrap(good))) == good, where


def test_map_keys_must_be_valid_unicode_too() -> None:
    for kind in (dict[str, int], dict[str, Any], Annotated[dict[str, int], at.MaxLen(3)]):
        assert problem(compile(kind), {LONE: 1}) == ("", "keys " + NOT_UNICODE)
        assert compile(kind)({"é": 1}) == {"é": 1}


# -- a value of the wrong type, wherever it is declared --------------------------------------------
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


MISMATCHES = {
    "str": (str, 1, "must be a string"),
    "int": (int, "1", "must be an integer"),
    "int, not bool": (int, True, "must be an integer"),
    "float": (float, "1", "must be a number"),
    "bool": (bool, 0, "must be a boolean"),
    "bytes": (bytes, "ab", "must be binary data"),
    "list": (list[int], {"a": 1}, "must be a list"),
    "map": (dict[str, int], [1], "must be an object with string keys"),
    "map keys": (dict[str, int], {1: 1}, "must be an object with string keys"),
    "tuple": (tuple[int, str], [1], "must be a list of 2 items"),
    "literal": (Literal["a", 1], "b", "must be one of 'a', 1"),
    "enum": (Colour, "green", "must be one of 'red', 'blue'"),
    "enum, unhashable": (Colour, ["red"], "must be one of 'red', 'blue'"),
    "constrained": (Annotated[int, at.Ge(0)], "0", "must be an integer"),
}


@pytest.mark.parametrize("kind, sent, expected", MISMATCHES.values(), ids=MISMATCHES.keys())
def test_a_value_of_another_type_is_refused_naming_where_it_is(
    kind: Any, sent: Any, expected: str
) -> None:
    """The problem, and the field path where it is: empty (a str, not None) for a whole
    parameter, the key or index below it."""
    for where, way in ways(kind).items():
        assert problem(way.validator, way.wrap(sent)) == (way.path, expected), where


def test_a_dataclass_given_something_else_than_an_object() -> None:
    for validate in (compile(holder(int)), looped(holder(int))):
        for sent in ([{"value": 1}], "value", None, 1):
            assert problem(validate, sent) == ("", "must be an object")


# -- a constraint must fit every type it can meet --------------------------------------------
@pytest.mark.parametrize(
    "kind",
    [
        Annotated[str | int, Length(1, 2)],
        Annotated[int | str, at.MaxLen(2)],
        Annotated[int | str, at.Ge(0)],
        Annotated[str | bytes, Pattern("a")],
        Annotated[list[int] | int | None, at.MinLen(1)],
    ],
)
def test_a_constraint_must_fit_every_type_of_a_union(kind: Any) -> None:
    with pytest.raises(SchemaError, match="cannot apply to"):
        compile(kind)


def test_a_constraint_fits_a_union_of_types_it_fits() -> None:
    both = compile(Annotated[str | bytes | None, Length(1, 2)])
    assert both("ab") == "ab" and both(b"ab") == b"ab" and both(None) is None
    assert problem(both, b"abc") == ("", "must have length 1..2 (got 3)")
    numbers = compile(Annotated[int | float, at.Gt(0)])
    assert numbers(1) == 1 and numbers(0.5) == 0.5
    assert problem(numbers, 0) == ("", "must be > 0 (got 0)")


def test_constraints_declared_at_run_time_and_nested_in_a_union() -> None:
    """A Pattern made when a handler module is imported late (not at this module's import),
    and a constrained type inside an optional one with constraints of its own."""
    digits = compile(Annotated[str, Pattern(r"[0-9]+"), Length(1, 3)])
    assert digits("123") == "123"
    assert problem(digits, "12a") == ("", r"must match [0-9]+")
    nested = compile(Annotated[Annotated[int, at.Ge(0)] | None, at.Le(5)])
    assert nested(5) == 5 and nested(None) is None
    assert problem(nested, 6) == ("", "must be <= 5 (got 6)")
    assert problem(nested, -1) == ("", "must be >= 0 (got -1)")


def test_a_predicate_without_a_qualified_name_is_named_by_its_repr() -> None:
    positive = functools.partial(operator.lt, 0)
    validate = compile(Annotated[int, at.Predicate(positive)])
    assert validate(1) == 1
    assert problem(validate, 0) == ("", f"must satisfy {positive!r}")
