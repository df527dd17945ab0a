"""The JSON encoder's fast path (orjson) says what the exact path (the json module) says.

orjson writes the common packets; whatever it cannot write the way socketsvc defines it goes
to the json module. Whatever the value, ``dumps`` must give the same JSON value as
``exact_dumps`` (floats may be spelled differently: ``1e16`` or ``1e+16``) or raise the same
kind of error.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socketsvc.errors import Unencodable
from socketsvc.protocol.json_format import dumps, exact_dumps


@dataclasses.dataclass
class Point:
    x: Any
    _hidden: int = 1  # orjson leaves out fields starting with "_"; socketsvc sends them


class Color(enum.Enum):
    RED = "red"


def outcome(encode: Any, value: Any) -> Any:
    try:
        text = encode(value)
    except Unencodable as exc:
        return ("unencodable", exc.cause)
    except (ValueError, TypeError, RecursionError) as exc:
        return ("error", type(exc).__name__)
    text.encode()  # always valid UTF-8: lone surrogates were escaped
    return ("json", json.loads(text))


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.sampled_from(["\ud800", "a\udfffb", b"\x00", Color.RED, uuid.UUID(int=7), {1, 2}])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text() | st.integers(0, 3) | st.booleans(), inner, max_size=3)
        | st.builds(Point, inner)
    ),
    max_leaves=10,
)


@settings(max_examples=1500, deadline=None)
@given(value=values)
def test_the_fast_path_agrees_with_the_exact_path(value: Any) -> None:
    fast, exact = outcome(dumps, value), outcome(exact_dumps, value)
    if fast[0] == exact[0] == "json":
        assert same(fast[1], exact[1]), value
    else:
        assert fast == exact, value


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b) and type(a) is type(b)


@pytest.mark.parametrize(
    "value, expected",
    [
        ([float("nan")], ("error", "ValueError")),  # orjson would write null
        ([2**53], ("unencodable", "json: integer beyond 2**53")),
        ([-(2**53) + 1], ("json", [-(2**53) + 1])),
        (["\ud800"], ("json", ["\ud800"])),  # escaped as JSON.stringify does
        ([b"x"], ("error", "TypeError")),  # bytes travel as attachments
        ({1: "a"}, ("json", {"1": "a"})),
        ([Point(1)], ("json", [{"x": 1, "_hidden": 1}])),
        ([Color.RED, uuid.UUID(int=1)], ("json", ["red", str(uuid.UUID(int=1))])),
    ],
)
def test_what_the_fast_path_hands_over(value: Any, expected: Any) -> None:
    assert outcome(dumps, value) == expected
