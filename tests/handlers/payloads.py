"""Handlers whose payloads are Decimal, TypedDict, pydantic models and msgspec Structs
(tests/handlers/test_payload_types.py), each nested one level so errors name a path."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, NotRequired, TypedDict

import msgspec
from annotated_types import Ge, Gt, MultipleOf
from pydantic import BaseModel, Field

from socketsvc.handlers import BaseNamespace, Length


class Price(TypedDict):
    amount: Annotated[Decimal, Gt(0), MultipleOf(Decimal("0.01"))]
    currency: Annotated[str, Length(3, 3)]
    note: NotRequired[str | None]


class Basket(TypedDict):
    price: Price
    items: list[str]


class PydanticBid(BaseModel):
    amount: Decimal = Field(gt=0)
    lot: str


class PydanticOrder(BaseModel):
    bid: PydanticBid
    quantity: Annotated[int, Ge(1)] = 1


class StructBid(msgspec.Struct):
    amount: Annotated[int, msgspec.Meta(gt=0)]
    lot: str


class StructOrder(msgspec.Struct):
    bid: StructBid
    tags: list[str] = []


class PaymentsNamespace(BaseNamespace):
    async def on_price(self, sid: str, amount: Decimal) -> dict[str, Decimal | str]:
        return {"amount": amount, "type": type(amount).__name__, "doubled": amount * 2}

    async def on_basket(self, sid: str, basket: Basket) -> Basket:
        assert isinstance(basket["price"]["amount"], Decimal)
        return basket

    async def on_pydantic(self, sid: str, order: PydanticOrder) -> PydanticOrder:
        assert isinstance(order, PydanticOrder) and isinstance(order.bid.amount, Decimal)
        await self.emit("order", order, to=sid)
        return order

    async def on_msgspec(self, sid: str, order: StructOrder) -> StructOrder:
        assert isinstance(order, StructOrder)
        return order
