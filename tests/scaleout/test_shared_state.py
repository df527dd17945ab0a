"""State every node shares: ``services.redis`` and the README's auction (the app ``socketsvc
new`` writes), on two nodes and a real ``redis-server``. Bids of the same amount race
through both nodes at once, round after round: exactly one is accepted each time, and both
nodes then report the same best bid."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestServer

from socketsvc.app.factory import SERVICES
from socketsvc.errors import SocketsvcError
from socketsvc.scaleout.node_redis import NodeRedis
from tests.conftest import ROOT, StartServer

AUCTION = "/auction"
TEMPLATE = ROOT / "socketsvc" / "templates" / "app"  # what `socketsvc new` writes


async def auction_node(start_server: StartServer, redis_url: str, prefix: str) -> TestServer:
    return await start_server(
        manager="redis",
        redis_url=redis_url,
        redis_prefix=prefix,
        chat=False,
        namespaces={AUCTION: "auction:AuctionNamespace"},
        handler_path=(str(TEMPLATE),),
        rate_limit_events=0,
    )


async def bidder(node: TestServer, serializer: str) -> socketio.AsyncClient:
    client = socketio.AsyncClient(serializer=serializer)
    await client.connect(
        str(node.make_url("/")), namespaces=[AUCTION], transports=["websocket"], wait_timeout=5
    )
    return client


async def bid(client: socketio.AsyncClient, lot: str, amount: Any) -> Any:
    return await client.call("bid", {"lot": lot, "amount": amount}, namespace=AUCTION, timeout=5)


async def test_only_a_higher_bid_is_accepted_across_two_nodes(
    start_server: StartServer, redis_url: str, redis_prefix: str
) -> None:
    nodes = [await auction_node(start_server, redis_url, redis_prefix) for _ in range(2)]
    for node in nodes:
        assert node.app[SERVICES].redis is not None
    clients = [
        await bidder(node, serializer)
        for node in nodes
        for serializer in ("default", "msgpack", "default")
    ]
    try:
        for amount in range(1, 21):  # 20 rounds, 6 bidders on 2 nodes
            replies = await asyncio.gather(*(bid(c, "A-1", f"{amount}.00") for c in clients))
            accepted = [r for r in replies if "error" not in r]
            assert len(accepted) == 1, (amount, replies)
            assert accepted[0]["amount"] == f"{amount}.00"
            outbid = {r["error"]["code"] for r in replies if "error" in r}
            assert outbid == {"outbid"}
        for client in (clients[0], clients[-1]):  # one on each node
            best = await client.call("watch", "A-1", namespace=AUCTION, timeout=5)
            assert best["amount"] == "20.00"
    finally:
        for client in clients:
            await client.disconnect()
            await client.shutdown()


async def test_an_unreachable_redis_is_answered_unavailable_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``run``: an outage becomes the temporary error ``unavailable`` (one log line), and a
    success afterwards ends it."""
    redis = NodeRedis("redis://127.0.0.1:1/0", "test")  # nothing listens on port 1
    try:
        with caplog.at_level(logging.ERROR, logger="socketsvc.redis"):
            for _ in range(3):
                with pytest.raises(SocketsvcError) as refused:
                    await redis.run(redis.client.get(redis.key("x")))
                assert (refused.value.code, refused.value.temporary) == ("unavailable", True)
        assert len([r for r in caplog.records if "app: Redis at" in r.getMessage()]) == 1
        assert redis.problem() is None  # /readyz: the node's own components say it
    finally:
        await redis.stop()


async def test_the_node_redis_names_keys_within_the_prefix(
    redis_url: str, redis_prefix: str
) -> None:
    redis = NodeRedis(redis_url, redis_prefix)
    try:
        await redis.start()
        assert redis.key("lot", "A-1") == f"{redis_prefix}:app:lot:A-1"
        assert await redis.run(redis.client.set(redis.key("k"), "v"))
        assert (
            await redis.run(
                redis.script("return redis.call('GET', KEYS[1])")(keys=[redis.key("k")])
            )
            == b"v"
        )
    finally:
        await redis.stop()
