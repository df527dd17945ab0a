"""The schema module on its own: what each annotation accepts, converts and refuses, the
field paths in its messages, and the annotations it refuses when a class is defined."""

from __future__ import annotations

import dataclasses
import enum
import re
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import annotated_types as at
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socketsvc.errors import InvalidPayload
from socketsvc.handlers.schema import Length, Pattern, SchemaError, compile, parse


def refused(kind: Any, value: Any) -> str:
    """The client-facing message for ``value`` against ``kind``."""
    with pytest.raises(InvalidPayload) as caught:
        compile(kind)(value)
    return caught.value.message


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass(frozen=True)
class Point:
    x: Annotated[int, at.Ge(0), at.Lt(100)]
    y: Annotated[float, at.Interval(ge=-1.0, le=1.0)]
    label: str | None = None


@dataclass
class Shape:
    points: Annotated[list[Point], at.MinLen(1), at.MaxLen(3)]
    colour: Colour = Colour.RED
    tags: dict[str, int] = field(default_factory=dict)


@dataclass
class Tree:
    name: str
    children: list[Tree] = field(default_factory=list)


# -- scalars ----------------------------------------------------------------------------------


def test_scalars_are_strict_about_bool_and_convert_ints_to_float() -> None:
    assert compile(int)(3) == 3
    assert refused(int, True) == "payload must be an integer"
    assert refused(int, 2.0) == "payload must be an integer"
    assert compile(float)(2) == 2.0 and type(compile(float)(2)) is float
    assert refused(float, False) == "payload must be a number"
    assert compile(bool)(False) is False
    assert refused(bool, 0) == "payload must be a boolean"
    assert compile(bytes)(bytearray(b"ab")) == b"ab"
    assert refused(str, b"x") == "payload must be a string"
    assert compile(Any)({"anything": [1]}) == {"anything": [1]}
    assert compile(None)(None) is None


def test_null_alone() -> None:
    assert compile(None)(None) is None
    with pytest.raises(InvalidPayload) as caught:
        compile(None)(0)
    assert (caught.value.field, caught.value.message) == ("", "payload must be null")


@pytest.mark.parametrize(
    "kind, message",
    [
        (int | list[int], "an integer or a list"),
        (float | tuple[int, ...], "a number or a list"),
        (bool | dict[str, int], "a boolean or an object"),
        (bytes | Point, "binary data or an object"),
        (Literal["a", "b"] | int, "one of 'a', 'b' or an integer"),
        (Annotated[int, at.Ge(0)] | Annotated[str, Length(1, 2)], "an integer or a string"),
        (Colour | int, "Colour or an integer"),
        (list | tuple | dict | None, "a list or a list or an object"),
    ],
)
def test_a_value_no_option_of_a_union_takes_is_told_every_option(kind: Any, message: str) -> None:
    assert refused(kind, 1.5j if kind is not None else 1) == f"payload must be {message}"


def test_optional_and_unions() -> None:
    assert compile(int | None)(None) is None
    assert compile(int | str)("a") == "a"
    assert refused(int | str, 1.5) == "payload must be an integer or a string"
    assert refused(int | None, "a") == "payload must be an integer"
    assert refused(int | str, None) == "payload must be an integer or a string"  # not optional


# -- Literal, Enum, tuple --------------------------------------------------------------------


def test_literal_accepts_its_values_only_with_their_type() -> None:
    mode = Literal["draw", "erase", 1]
    assert compile(mode)("erase") == "erase"
    assert compile(mode)(1) == 1
    assert refused(mode, True) == "payload must be one of 'draw', 'erase', 1"
    assert refused(mode, "DRAW").startswith("payload must be one of")
    assert refused(mode, ["draw"]).startswith("payload must be one of")


def test_enums_come_by_value_and_become_members() -> None:
    assert compile(Colour)("blue") is Colour.BLUE
    assert compile(Level)(2) is Level.HIGH
    assert refused(Level, "2") == "payload must be one of 1, 2"
    assert refused(Level, True) == "payload must be one of 1, 2"
    assert refused(Colour, "RED") == "payload must be one of 'red', 'blue'"
    for unhashable in ([1], {"red": 1}):
        assert refused(Colour, unhashable) == "payload must be one of 'red', 'blue'"
        assert refused(Literal["red"], unhashable) == "payload must be one of 'red'"


def test_tuples_fixed_and_variadic_come_from_arrays() -> None:
    pair = tuple[int, str]
    assert compile(pair)([1, "a"]) == (1, "a")
    assert refused(pair, [1]) == "payload must be a list of 2 items"
    assert refused(pair, [1, "a", "extra"]) == "payload must be a list of 2 items"
    assert refused(pair, [1, 2]) == "'[1]' must be a string"
    assert compile(tuple[int, ...])([1, 2, 3]) == (1, 2, 3)
    assert compile(tuple[int, ...])([]) == ()
    assert refused(tuple[int, ...], [1, "x"]) == "'[1]' must be an integer"
    assert refused(tuple[int, ...], (1, 2)) == "payload must be a list"
    for bare in (tuple, typing.Tuple):  # noqa: UP006 - bare: any items
        assert compile(bare)([1, "a"]) == (1, "a")
    for empty in (tuple[()], typing.Tuple[()]):  # noqa: UP006 - no items (it took any)
        assert compile(empty)([]) == ()
        assert refused(empty, [1]) == "payload must be a list of 0 items"


# -- constraints -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, good, bad, message",
    [
        (Annotated[int, at.Ge(1)], 1, 0, "payload must be >= 1 (got 0)"),
        (Annotated[int, at.Gt(1)], 2, 1, "payload must be > 1 (got 1)"),
        (Annotated[float, at.Le(0.5)], 0.5, 0.6, "payload must be <= 0.5 (got 0.6)"),
        (Annotated[int, at.Lt(10)], 9, 10, "payload must be < 10 (got 10)"),
        (Annotated[int, at.Interval(ge=1, le=3)], 3, 4, "payload must be <= 3 (got 4)"),
        (Annotated[int, at.MultipleOf(5)], 10, 11, "payload must be a multiple of 5"),
        (Annotated[str, at.MinLen(2)], "ab", "a", "payload must have length at least 2 (got 1)"),
        (Annotated[list[int], at.MaxLen(1)], [1], [1, 2], "payload must have length 0..1 (got 2)"),
        (Annotated[bytes, at.Len(1, 2)], b"a", b"abc", "payload must have length 1..2 (got 3)"),
        (Annotated[str, Length(1, 3)], "abc", "", "payload must have length 1..3 (got 0)"),
        (Annotated[str, Pattern(r"[a-z]+")], "abc", "aB", "payload must match [a-z]+"),
        (
            Annotated[int, at.Predicate(lambda v: v % 2 == 0)],
            4,
            3,
            "payload must satisfy <lambda>",
        ),
        (Annotated[int | None, at.Ge(0)], None, -1, "payload must be >= 0 (got -1)"),
    ],
)
def test_constraints(kind: Any, good: Any, bad: Any, message: str) -> None:
    assert compile(kind)(good) == good
    assert refused(kind, bad) == message


# -- dataclasses and paths -------------------------------------------------------------------


def test_dataclasses_are_instantiated_and_errors_name_the_field_path() -> None:
    shape = compile(Shape)({"points": [{"x": 1, "y": 0.5}], "tags": {"a": 1}})
    assert shape == Shape([Point(1, 0.5)], Colour.RED, {"a": 1})
    assert refused(Shape, {"points": []}) == "'points' must have length 1..3 (got 0)"
    bad_point = {"points": [{"x": 1, "y": 0}, {"x": 100, "y": 0}]}
    assert refused(Shape, bad_point) == "'points[1].x' must be < 100 (got 100)"
    assert refused(Shape, {"points": [{"x": 1}]}) == "'points[0].y' is required"
    assert refused(Shape, {"points": [{"x": 1, "y": 0}], "colour": "green"}) == (
        "'colour' must be one of 'red', 'blue'"
    )
    assert refused(Shape, {"points": [{"x": 1, "y": 0}], "tags": {"a": "1"}}) == (
        "'tags.a' must be an integer"
    )
    assert refused(Shape, [1]) == "payload must be an object"


def test_parse_prefixes_the_path_it_is_given() -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse(Point, {"x": -1, "y": 0}, "point")
    assert caught.value.message == "'point.x' must be >= 0 (got -1)"
    assert caught.value.field == "point.x"
    with pytest.raises(InvalidPayload) as caught:
        parse(Point, {"x": -1, "y": 0})
    assert caught.value.message == "'x' must be >= 0 (got -1)"
    assert parse(Point, {"x": 1, "y": 0}) == Point(1, 0.0)


def test_null_for_a_field_with_a_default_takes_the_default() -> None:
    assert compile(Point)({"x": 1, "y": 0, "label": None}) == Point(1, 0.0)
    assert compile(Point)({"x": 1, "y": 0, "label": "p"}).label == "p"


def test_map_keys_must_be_strings() -> None:
    """A msgpack map can have integer (or binary) keys; a declared map's keys are strings."""
    for kind in (dict[str, int], dict[str, Any], dict):
        assert refused(kind, {1: 2}) == "payload must be an object with string keys"
        assert refused(kind, {"a": 1, b"b": 2}) == "payload must be an object with string keys"
    assert refused(Shape, {"points": [{"x": 1, "y": 0}], "tags": {1: 1}}) == (
        "'tags' must be an object with string keys"
    )


@dataclass
class Counted:
    name: str
    seen: int = field(init=False, default=0)  # the server's, never the client's

    def __post_init__(self) -> None:
        self.seen = len(self.name)


def test_fields_outside_init_are_never_read_from_the_payload() -> None:
    counted = compile(Counted)({"name": "abc", "seen": 99})
    assert (counted.name, counted.seen) == ("abc", 3)


@dataclass
class Nullable:
    value: int | None  # required, and may be null
    anything: Any  # required, anything including null
    either: int | str | None = None


@pytest.mark.parametrize("way", ["generated", "looped"])
def test_a_required_nullable_field_must_be_present_but_may_be_null(way: str) -> None:
    from socketsvc.handlers import records, schema

    if way == "generated":
        validate = compile(Nullable)
    else:
        compiler = schema._Compiler()
        hints = typing.get_type_hints(Nullable, include_extras=True)
        fields = [
            records.Field(f.name, hints[f.name], compiler.build(hints[f.name]), f)
            for f in dataclasses.fields(Nullable)
        ]
        validate = records._looped(Nullable, fields)
    assert validate({"value": None, "anything": None}) == Nullable(None, None)
    assert validate({"value": 1, "anything": [1], "either": "a"}) == Nullable(1, [1], "a")
    assert validate({"value": 1, "anything": 0, "either": 2}).either == 2
    for missing in ({"anything": 1}, {"anything": 1, "extra": None}):
        with pytest.raises(InvalidPayload) as caught:
            validate(missing)
        assert caught.value.message == "'value' is required"
    with pytest.raises(InvalidPayload) as caught:
        validate({"value": 1})
    assert caught.value.message == "'anything' is required"
    with pytest.raises(InvalidPayload) as caught:
        validate({"value": 1, "anything": 1, "either": 1.5})
    assert caught.value.message == "'either' must be an integer or a string"


def test_recursive_dataclasses() -> None:
    tree = compile(Tree)({"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]})
    assert tree.children[0].children[0] == Tree("c")
    assert refused(Tree, {"name": "a", "children": [{"name": 1}]}) == (
        "'children[0].name' must be a string"
    )


# -- annotations refused when compiled (at class definition) ---------------------------------


@pytest.mark.parametrize(
    "kind, message",
    [
        (Annotated[int, Length(1, 2)], "cannot apply to int: it has no length"),
        (Annotated[int, at.MinLen(1)], "cannot apply to int: it has no length"),
        (Annotated[str, at.Ge(0)], "cannot apply to str: it is not a number"),
        (Annotated[bool, at.Ge(0)], "cannot apply to bool: it is not a number"),
        (Annotated[int, Pattern("x")], "cannot apply to int: it is not a string"),
        (Annotated[Colour, at.MaxLen(3)], "it has no length"),
        (Annotated[int, at.Timezone(None)], "is not supported on a payload"),
        (set[int], "cannot come from a client"),
        (object, "cannot come from a client"),
        (dict[int, str], "map keys from a client are strings"),
        (Literal[1.5], "cannot come from a client"),
        (list[set[str]], "cannot come from a client"),
    ],
)
def test_annotations_no_payload_can_satisfy_are_refused(kind: Any, message: str) -> None:
    with pytest.raises(SchemaError, match=re.escape(message)):
        compile(kind)


@pytest.mark.parametrize(
    "kind, message",
    [
        (dict[int, str], "dict: map keys from a client are strings"),
        (
            set[int],
            "set cannot come from a client: use str, int, float, bool, bytes, Decimal, None, "
            "list, tuple, dict[str, ...], a dataclass, a TypedDict, a pydantic or msgspec model, "
            "Literal or an Enum",
        ),
        (
            Annotated[int, Length(1, 2)],
            "Length(min=1, max=2) cannot apply to int: it has no length",
        ),
        (
            Annotated[int, at.MaxLen(2)],
            "MaxLen(max_length=2) cannot apply to int: it has no length",
        ),
        (
            Annotated[int, Pattern("x")],
            "Pattern(regex='x') cannot apply to int: it is not a string",
        ),
        (Annotated[str, at.Gt(0)], "Gt(gt=0) cannot apply to str: it is not a number"),
        (
            Annotated[str, at.MultipleOf(2)],
            "MultipleOf(multiple_of=2) cannot apply to str: it is not a number",
        ),
        (
            Annotated[list[Any] | int, at.MinLen(1)],
            "MinLen(min_length=1) cannot apply to list[Any] | int: it has no length",
        ),
    ],
)
def test_a_refused_annotation_is_named_whole(kind: Any, message: str) -> None:
    with pytest.raises(SchemaError) as caught:
        compile(kind)
    assert str(caught.value) == message


def test_enum_values_must_be_strings_or_integers() -> None:
    class Ratio(enum.Enum):
        HALF = 0.5

    with pytest.raises(SchemaError, match=r"Ratio\.HALF: enum values must be str or int"):
        compile(Ratio)


def test_foreign_metadata_is_left_alone() -> None:
    assert compile(Annotated[int, "a doc string", {"orm": "column"}])(1) == 1


# -- the generated record validator and the looped one agree ---------------------------------


@dataclass(frozen=True)
class Mixed:
    name: Annotated[str, Length(1, 8), Pattern(r"[a-z]+")]
    count: Annotated[int, at.Ge(0), at.Lt(10)]
    ratio: Annotated[float | None, at.Gt(0)] = None
    blob: bytes = b""
    flag: bool = False
    mode: Literal["a", "b"] = "a"
    tags: Annotated[list[str], at.MaxLen(2)] = field(default_factory=list)
    level: Level | None = None
    nested: Point | None = None


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-20, 20)
    | st.floats(-2, 2, allow_nan=False)
    | st.text("abcXY", max_size=10)
    | st.binary(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text("xy", max_size=2), inner),
    max_leaves=8,
)
FIELD_VALUES = {
    "name": st.text("abcX", max_size=9),
    "count": st.integers(-2, 12),
    "ratio": st.floats(-1, 1, allow_nan=False) | st.integers(-1, 1),
    "blob": st.binary(max_size=2),
    "flag": st.booleans(),
    "mode": st.sampled_from(["a", "b", "c"]),
    "tags": st.lists(st.text("ab", max_size=2), max_size=3),
    "level": st.sampled_from([1, 2, 3, "1"]),
    "nested": st.fixed_dictionaries({"x": st.integers(-1, 101), "y": st.floats(-2, 2)}),
}
MIXED_MAPS = st.fixed_dictionaries(
    {name: FIELD_VALUES[name] | JSONISH for name in ("name", "count")},
    optional={
        name: values | JSONISH
        for name, values in FIELD_VALUES.items()
        if name not in ("name", "count")
    },
)


def outcome(validate: Any, value: Any) -> Any:
    try:
        return ("ok", validate(value))
    except InvalidPayload as exc:
        return ("refused", exc.message)


@settings(max_examples=300, deadline=None)
@given(MIXED_MAPS | JSONISH)
def test_generated_and_looped_record_validators_agree(value: Any) -> None:
    from socketsvc.handlers import records, schema

    compiler = schema._Compiler()
    hints = typing.get_type_hints(Mixed, include_extras=True)
    fields = [
        records.Field(f.name, hints[f.name], compiler.build(hints[f.name]), f)
        for f in dataclasses.fields(Mixed)
    ]
    generated = records._generated(Mixed, fields, schema._SCALARS)
    looped = records._looped(Mixed, fields)
    assert outcome(generated, value) == outcome(looped, value)
