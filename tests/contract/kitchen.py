"""A handler module with every kind of annotation the contract shows: recursive and nested
dataclasses, a class used both ways, an IntEnum, bytes, maps, tuples (fixed, variadic, as
acks and as events), Any, ``*args``, optional acks, parameters named like TypeScript
keywords, event names that are not identifiers, and a payload name taken twice."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Annotated, Any, Literal, TypedDict

from annotated_types import Ge, Lt, MultipleOf, Predicate

from socketsvc.handlers import BaseNamespace, Length, ServerEvent, event

from . import other


class Level(IntEnum):
    LOW = 1
    HIGH = 2


class Colour(Enum):  # not a str subclass: members still go as their values
    RED = "red"
    BLUE = "blue"


@dataclass
class Node:
    """A tree: nodes hold nodes."""

    name: Annotated[str, Length(1, 10)]
    children: list[Node] = field(default_factory=list)


@dataclass
class Item:
    """Sent by clients with defaults, and back by the server with every field."""

    label: str
    count: int = 1


@dataclass
class Same:
    """The same both ways (no defaults): one type."""

    x: float


def is_even(value: int) -> bool:
    return value % 2 == 0


class Sizes(TypedDict, total=False):
    small: int
    large: Annotated[int, Ge(10)]


class Req(TypedDict):  # also a class of other.py's name
    level: Level


class KitchenNamespace(BaseNamespace):
    """Everything at once."""

    tree = ServerEvent[Node]()
    triple = ServerEvent[tuple[int, str, bool]]("triple:sent")
    maybe = ServerEvent[Sizes | None]()
    nothing = ServerEvent[None]()

    async def on_grow(self, sid: str, root: Node, depth: Annotated[int, Ge(0), Lt(8)] = 1) -> Node:
        return root

    async def on_item(self, sid: str, item: Item) -> Item:
        return item

    async def on_same(self, sid: str, same: Same) -> Same:
        return same

    async def on_blob(self, sid: str, data: Annotated[bytes, Length(1, 1024)]) -> bytes:
        return data

    async def on_pair(self, sid: str, new: int, delete: str) -> tuple[int, str]:
        return new, delete

    async def on_spread(self, sid: str, *items: int) -> tuple[int, ...]:
        return items

    async def on_anything(self, sid: str, ack: Any) -> Any:
        return ack

    async def on_even(self, sid: str, n: Annotated[int, Predicate(is_even), MultipleOf(4)]) -> None:
        return None

    async def on_maps(
        self, sid: str, m: dict[str, list[Level]], fixed: tuple[str, float]
    ) -> Mapping[str, Sequence[Sizes]]:
        return {}

    @event("order:created")
    async def created(self, sid: str, order: Literal["a", 1, True, None]) -> Req | other.Req | None:
        return None

    async def on_paint(self, sid: str, colour: Colour) -> tuple[Colour, uuid.UUID]:
        return colour, uuid.uuid4()

    @event("with-dash")
    async def dashed(self, sid: str) -> list[Level]:
        return [Level.LOW]
