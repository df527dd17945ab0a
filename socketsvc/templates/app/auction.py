"""A live auction: clients watch lots and bid, and only a higher bid is accepted.

A namespace instance lives in one node: its attributes are per node. The best bid of a lot
must be the same on every node, so it is kept in Redis when the node runs with
``manager = "redis"`` (``self.services.redis``), and a Lua script accepts a bid only when it
beats the best one, atomically in Redis: two nodes never both accept a bid on one lot. A
node alone (``manager = "memory"``) keeps it in its own memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, TypedDict

from annotated_types import Gt

from socketsvc.errors import SocketsvcError
from socketsvc.handlers import BaseNamespace, Length, NodeRedis, ServerEvent, Services

Lot = Annotated[str, Length(1, 64)]


@dataclass(frozen=True)
class Bid:
    lot: Lot
    amount: Annotated[Decimal, Gt(0)]  # a number, or a string such as "12.50"


class Leading(TypedDict):
    """The best bid of a lot (``amount`` is sent as a string: "12.50")."""

    lot: str
    amount: Decimal
    bidder: str


# Runs in Redis as one step: no other node's bid can come between the read and the write.
HIGHER_BID = """
local best = redis.call('HGET', KEYS[1], 'amount')
if best and tonumber(best) >= tonumber(ARGV[1]) then
  return {0, best, redis.call('HGET', KEYS[1], 'bidder')}
end
redis.call('HSET', KEYS[1], 'amount', ARGV[1], 'bidder', ARGV[2])
return {1, ARGV[1], ARGV[2]}
"""
LEADING = "return redis.call('HMGET', KEYS[1], 'amount', 'bidder')"


class NodeLots:
    """The best bids in this node's memory: right for one node only."""

    def __init__(self) -> None:
        self.best: dict[str, Leading] = {}

    async def leading(self, lot: str) -> Leading | None:
        return self.best.get(lot)

    async def offer(self, lot: str, amount: Decimal, bidder: str) -> tuple[bool, Leading]:
        best = self.best.get(lot)
        if best is not None and best["amount"] >= amount:
            return False, best
        self.best[lot] = {"lot": lot, "amount": amount, "bidder": bidder}
        return True, self.best[lot]


class SharedLots:
    """The best bids in Redis, the same for every node of the cluster."""

    def __init__(self, redis: NodeRedis) -> None:
        self.redis = redis
        self.higher_bid = redis.script(HIGHER_BID)
        self.best = redis.script(LEADING)

    async def leading(self, lot: str) -> Leading | None:
        key = self.redis.key("lot", lot)
        amount, bidder = await self.redis.run(self.best(keys=[key]))
        return None if amount is None else leading(lot, amount, bidder)

    async def offer(self, lot: str, amount: Decimal, bidder: str) -> tuple[bool, Leading]:
        key = self.redis.key("lot", lot)
        accepted, best, by = await self.redis.run(
            self.higher_bid(keys=[key], args=[str(amount), bidder])
        )
        return bool(accepted), leading(lot, best, by)


def leading(lot: str, amount: bytes, bidder: bytes) -> Leading:
    return {"lot": lot, "amount": Decimal(amount.decode()), "bidder": bidder.decode()}


class AuctionNamespace(BaseNamespace):
    """Watch lots and bid on them."""

    leading = ServerEvent[Leading](doc="a lot you watch has a new best bid")

    def __init__(self, namespace: str, services: Services) -> None:
        super().__init__(namespace, services)
        self.lots = NodeLots() if services.redis is None else SharedLots(services.redis)

    async def on_watch(self, sid: str, lot: Lot) -> Leading | None:
        """Follow a lot's bids; the ack is its best bid so far (null: none yet)."""
        await self.join(sid, f"lot:{lot}")
        return await self.lots.leading(lot)

    async def on_bid(self, sid: str, bid: Bid) -> Leading:
        """Bid on a lot: accepted (the ack; the lot's other watchers are told `leading`) only
        above its best bid, else refused as `outbid`."""
        accepted, best = await self.lots.offer(bid.lot, bid.amount, sid)
        if not accepted:
            raise SocketsvcError("outbid", f"the best bid on {bid.lot} is {best['amount']}")
        await self.emit(self.leading, best, to=f"lot:{bid.lot}", skip_sid=sid)
        return best
