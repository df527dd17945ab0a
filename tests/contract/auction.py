"""A handler module for the contract tests: a dataclass payload with a pattern, bounds and a
Literal, an Enum, a TypedDict ack and declared server events."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal, NotRequired, TypedDict

from annotated_types import Ge, Gt, Le, MaxLen

from socketsvc.errors import SocketsvcError
from socketsvc.handlers import BaseNamespace, Length, Pattern, ServerEvent, Services

Lot = Annotated[str, Pattern(r"[A-Z]{3}-[0-9]{4}")]


class Speed(StrEnum):
    """How often the watcher wants news of a lot."""

    SLOW = "slow"
    LIVE = "live"


@dataclass(frozen=True)
class Bid:
    """An offer for a lot."""

    lot: Lot
    amount: Annotated[int, Gt(0), Le(1_000_000)]  # whole units of the currency
    currency: Literal["EUR", "USD"]
    note: Annotated[str, Length(1, 140)] | None = None
    quantity: Annotated[int, Ge(1)] = 1
    tags: Annotated[list[str], MaxLen(3)] | None = None


class BidAccepted(TypedDict):
    lot: str
    amount: int
    currency: Literal["EUR", "USD"]
    leading: bool
    previous: NotRequired[int]  # the amount outbid, when there was one


class Outbid(TypedDict):
    """Someone bid more for a lot you lead."""

    lot: str
    amount: int
    currency: Literal["EUR", "USD"]


class AuctionNamespace(BaseNamespace):
    """Bids on lots."""

    outbid = ServerEvent[Outbid](doc="someone bid more for a lot you lead")
    closing = ServerEvent[tuple[str, int]](doc="a lot closes in this many seconds")

    def __init__(self, namespace: str, services: Services) -> None:
        super().__init__(namespace, services)
        self.leaders: dict[str, tuple[str, int]] = {}  # lot -> (sid, amount)

    async def on_bid(self, sid: str, bid: Bid) -> BidAccepted:
        """Bid for a lot; the ack says whether the bid leads."""
        leader = self.leaders.get(bid.lot)
        accepted: BidAccepted = {
            "lot": bid.lot,
            "amount": bid.amount,
            "currency": bid.currency,
            "leading": leader is None or bid.amount > leader[1],
        }
        if not accepted["leading"]:
            return accepted
        if leader is not None:
            accepted["previous"] = leader[1]
            if leader[0] != sid:
                outbid: Outbid = {"lot": bid.lot, "amount": bid.amount, "currency": bid.currency}
                await self.emit(self.outbid, outbid, to=leader[0])
        self.leaders[bid.lot] = (sid, bid.amount)
        return accepted

    async def on_watch(self, sid: str, lot: Lot, speed: Speed = Speed.SLOW) -> None:
        if lot not in self.leaders:
            raise SocketsvcError("no_such_lot", f"no bids on {lot} yet")
        await self.enter_room(sid, lot)
        await self.emit(self.closing, (lot, 60 if speed is Speed.SLOW else 5), to=sid)
