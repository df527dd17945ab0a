"""Redis Cluster (``redis_cluster = true``): three primaries made by ``redis-cli --cluster
create``, two nodes: rooms across nodes on sharded channels (a node hears only its rooms and
the cluster-wide channel), presence, fetch_sockets, and recovery across nodes."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from redis.asyncio.cluster import RedisCluster

from socketsvc.app.factory import SIO
from socketsvc.scaleout import redis_sharded
from socketsvc.scaleout.redis_topology import shard_subscribers
from tests import raw_client
from tests.app.test_metrics import scrape
from tests.cluster import Client
from tests.conftest import TEST_NAMESPACES, ConnectTo, Inbox, StartServer, eventually
from tests.redis_ha_support import ClusterGroup, redis_cluster  # noqa: F401 - a fixture
from tests.scaleout.mixed_handlers import NAMESPACES
from tests.scaleout.test_cluster import call


async def listeners(cluster: ClusterGroup, channel: str) -> int:
    client = RedisCluster.from_url(cluster.url)
    try:
        return int(dict(await shard_subscribers(client, channel))[channel.encode()])
    finally:
        await client.aclose()


async def received(node: Any) -> float:
    return float((await scrape(node.make_url("/metrics"))).value("socketsvc_bus_received_total"))


async def test_rooms_presence_and_recovery_across_nodes_on_a_redis_cluster(
    redis_cluster: ClusterGroup,  # noqa: F811
    start_server: StartServer,
    client: Client,
    connect_to: ConnectTo,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared = {"manager": "redis", "redis_url": redis_cluster.url, "redis_cluster": True}
    shared["redis_prefix"] = redis_prefix
    shared["namespaces"] = {**TEST_NAMESPACES, **NAMESPACES}
    a, b = await start_server(**shared), await start_server(**shared)
    alice, bob, carol = await client(a), await client(b, "msgpack"), await client(b)
    to_alice, to_bob = Inbox(alice, "message"), Inbox(bob, "message")
    for c, name, room in ((alice, "alice", "r"), (bob, "bob", "r"), (carol, "carol", "s")):
        await call(c, "join", {"room": room, "name": name})

    # A room across nodes, both parsers; presence sees both nodes' members.
    await call(alice, "message", {"room": "r", "text": "hi"})
    assert (await to_bob.get())["text"] == "hi"  # alice, the sender, is skipped
    assert (await call(bob, "members", {"room": "r"}))["members"] == ["alice", "bob"]

    # A room with members on b only: its traffic never reaches a; a namespace-wide emit does.
    news = Inbox(carol, "news")
    before = await received(a)
    for n in range(5):
        await b.app[SIO].emit("news", {"n": n}, namespace="/chat", to="s")
    assert [(await news.get())["n"] for _ in range(5)] == [0, 1, 2, 3, 4]
    everyone = Inbox(alice, "news")
    await b.app[SIO].emit("news", {"n": "all"}, namespace="/chat")
    assert (await everyone.get())["n"] == "all"
    assert await received(a) == before + 1  # the namespace-wide one only

    # A room that empties here is unsubscribed (by the sweep); one joined again is heard at once.
    channel = a.app[SIO].manager.room_channel("/chat", "r")
    assert await listeners(redis_cluster, channel) == 2
    monkeypatch.setattr(redis_sharded, "SWEEP_SECONDS", 0.1)
    await call(alice, "leave", {"room": "r"})
    for _ in range(100):  # Redis has no event for it: look every 50 ms, 5 s at most
        if await listeners(redis_cluster, channel) == 1:  # b's only
            break
        await asyncio.sleep(0.05)
    assert await listeners(redis_cluster, channel) == 1
    await call(alice, "join", {"room": "r", "name": "alice"})
    await call(bob, "message", {"room": "r", "text": "again"})
    assert (await to_alice.get())["text"] == "again"

    # Cluster-wide requests (fetch_sockets) on classic pub/sub, which a Cluster broadcasts.
    on_a, on_b = (
        await connect_to(a, "json", ns="/mixed"),
        await connect_to(b, "msgpack", ns="/mixed"),
    )
    for member in (on_a, on_b):
        assert await member.call("enter", "r", namespace="/mixed", timeout=5)
    found = await on_a.call("fetch", ("r", None), namespace="/mixed", timeout=5)
    assert [s["id"] for s in found] == [on_a.get_sid("/mixed"), on_b.get_sid("/mixed")]

    # Recovery across nodes: one stream, kept sessions claimed on the other node.
    async with aiohttp.ClientSession() as http:
        reader, _ = await raw_client.join(http, b, "/recovering", None)
        assert await raw_client.ask(reader, "/recovering", 1, "enter", "r") is True
        keeper, hello = await raw_client.join(http, a, "/recovering", None)
        assert await raw_client.ask(keeper, "/recovering", 1, "keep", "kept") is True
        assert await raw_client.ask(keeper, "/recovering", 2, "enter", "r") is True
        await keeper.close()
        await eventually(lambda: not a.app[SIO].manager.is_connected(hello["sid"], "/recovering"))
        await a.app[SIO].emit("news", "while away", namespace="/recovering", to="r")
        frame = await reader.receive_str(timeout=5)
        assert frame.startswith('42/recovering,["news","while away","')
        back, again = await raw_client.join(http, b, "/recovering", {"pid": hello["pid"]})
        assert again["sid"] == hello["sid"]
        assert await back.receive_str(timeout=5) == frame
        state = await raw_client.ask(back, "/recovering", 1, "state")
        assert state["recovered"] is True and state["kept"] == "kept"
        for ws in (reader, back):
            await ws.close()
