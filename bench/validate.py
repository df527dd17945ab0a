"""Micro-benchmark of payload validation: socketsvc's compiled schema against pydantic's
``TypeAdapter`` and ``msgspec.convert`` on the same payloads (the ones not installed are
skipped: ``pip install pydantic msgspec`` to compare).

    python bench/validate.py              # ~10 s; --number N for more or fewer calls

Each line is the time of one validation, best of 5 rounds. Payloads: /chat's ``message``
request (a short and a 4 KB text; its constraints written with annotated-types so that all
three check the same) and a drawing request with 20 nested points carrying numeric ranges and
a Literal.
"""

from __future__ import annotations

import argparse
import functools
import sys
import timeit
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types as at

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from socketsvc.handlers.schema import compile as compile_schema


@dataclass(frozen=True)
class MessageRequest:
    """/chat's message request, with constraints all three libraries read."""

    room: Annotated[str, at.MinLen(1), at.MaxLen(64)]
    text: Annotated[str, at.MinLen(1), at.MaxLen(4000)]


@dataclass(frozen=True)
class Point:
    x: Annotated[int, at.Ge(0), at.Le(4096)]
    y: Annotated[int, at.Ge(0), at.Le(4096)]


@dataclass(frozen=True)
class Draw:
    board: Annotated[str, at.MinLen(1), at.MaxLen(64)]
    colour: Literal["red", "green", "blue"]
    width: Annotated[float, at.Gt(0), at.Le(50)]
    points: Annotated[list[Point], at.MinLen(1), at.MaxLen(1000)]


PAYLOADS: dict[str, tuple[type, dict[str, Any]]] = {
    "chat message (12 chars)": (MessageRequest, {"room": "lobby", "text": "hello there!"}),
    "chat message (4 KB)": (MessageRequest, {"room": "lobby", "text": "x" * 4000}),
    "draw, 20 points": (
        Draw,
        {
            "board": "plans",
            "colour": "blue",
            "width": 2.5,
            "points": [{"x": i, "y": 2 * i} for i in range(20)],
        },
    ),
}


try:
    import msgspec
    from msgspec import Meta
except ImportError:  # pragma: no cover - optional
    msgspec = None
else:

    class MPoint(msgspec.Struct, frozen=True):
        x: Annotated[int, Meta(ge=0, le=4096)]
        y: Annotated[int, Meta(ge=0, le=4096)]

    class MDraw(msgspec.Struct, frozen=True):
        board: Annotated[str, Meta(min_length=1, max_length=64)]
        colour: Literal["red", "green", "blue"]
        width: Annotated[float, Meta(gt=0, le=50)]
        points: Annotated[list[MPoint], Meta(min_length=1, max_length=1000)]

    class MMessage(msgspec.Struct, frozen=True):
        room: Annotated[str, Meta(min_length=1, max_length=64)]
        text: Annotated[str, Meta(min_length=1, max_length=4000)]


def msgspec_types() -> dict[type, Any] | None:
    """The same types for msgspec, whose constraints are its own ``Meta``."""
    if msgspec is None:
        return None
    return {MessageRequest: MMessage, Draw: MDraw}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000, help="calls per round")
    number = parser.parse_args().number
    validators: dict[str, Any] = {}
    for name, (kind, _) in PAYLOADS.items():
        validators[f"socketsvc|{name}"] = compile_schema(kind)
    try:
        from pydantic import TypeAdapter

        for name, (kind, _) in PAYLOADS.items():
            adapter = TypeAdapter(kind)
            # lax mode: strict mode refuses a dict for a dataclass
            validators[f"pydantic|{name}"] = adapter.validate_python
    except ImportError:
        print("pydantic not installed: skipped")
    structs = msgspec_types()
    if structs is None:
        print("msgspec not installed: skipped")
    else:
        for name, (kind, _) in PAYLOADS.items():
            target = structs[kind]
            validators[f"msgspec|{name}"] = lambda v, t=target: msgspec.convert(v, t, strict=True)
    print(f"{'payload':26} {'validator':10} {'µs per call':>12}")
    for name, (_, payload) in PAYLOADS.items():
        for library in ("socketsvc", "pydantic", "msgspec"):
            validate = validators.get(f"{library}|{name}")
            if validate is None:
                continue
            validate(payload)  # must accept it
            call = functools.partial(validate, payload)
            best = min(timeit.repeat(call, number=number, repeat=5))
            print(f"{name:26} {library:10} {best / number * 1e6:12.2f}")


if __name__ == "__main__":
    main()
