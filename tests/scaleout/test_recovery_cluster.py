"""Connection-state recovery across nodes on one Redis, with the stock npm socket.io-client.

Node K runs as a separate process so that the JS script can kill it (SIGKILL, a crash); nodes
A and B run in the test's event loop. The client reaches A or K through a TCP proxy that the
script switches to B, as a load balancer does when a node drops a connection or dies.
"""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis import asyncio as aioredis

from socketsvc.app.factory import SIO
from socketsvc.errors import Unencodable
from tests import raw_client
from tests.cli_node import cli_node
from tests.conftest import StartServer, eventually
from tests.e2e.test_js_clients import assert_all_passed, run_node
from tests.recovering import NS, Member, until
from tests.redis_support import RedisProcess
from tests.sample_handlers import Point

KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("parser", ["json", "msgpack"])
async def test_stock_js_client_recovers_on_another_node(
    node: str,
    start_server: StartServer,
    redis_url: str,
    redis_prefix: str,
    parser: str,
    transport: str,
    tmp_path: Path,
) -> None:
    cluster: dict[str, Any] = {
        "manager": "redis",
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
    }
    a, b = await start_server(**cluster), await start_server(**cluster)
    config = tmp_path / "k.toml"
    config.write_text('[namespaces]\n"/recovering" = "tests.sample_handlers:RecoveringNamespace"\n')
    async with cli_node(
        "--config",
        str(config),
        "--manager",
        "redis",
        "--redis-url",
        redis_url,
        "--redis-prefix",
        redis_prefix,
        "--log-level",
        "info",
    ) as k:
        env = {
            "NODE_A": str(a.make_url("")).rstrip("/"),
            "NODE_B": str(b.make_url("")).rstrip("/"),
            "NODE_K": k.url,
            "KILL_PID": str(k.proc.pid),
            "PARSER": parser,
            "TRANSPORT": transport,
        }
        assert_all_passed(await run_node(node, "recovery_cluster.test.mjs", env))


async def test_stored_emits_and_kept_sessions_cross_redis_as_the_bus_does(
    start_server: StartServer,
    redis_url: str,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The stream and the kept sessions pack values as the bus does: a dataclass as its fields,
    a lone surrogate as Python holds it (JSON clients get it escaped). A value is never taken
    for a Redis outage: Redis stays ready and nothing is logged as an error."""
    cluster = {"manager": "redis", "redis_url": redis_url, "redis_prefix": redis_prefix}
    a, b = await start_server(**cluster), await start_server(**cluster)
    async with aiohttp.ClientSession() as http:
        reader, _ = await raw_client.join(http, b, "/recovering", None)
        assert await raw_client.ask(reader, "/recovering", 1, "enter", "r") is True
        odd = {"point": Point(1, 2), "text": "a\udfffb"}
        await a.app[SIO].emit("news", odd, namespace="/recovering", to="r")
        frame = await reader.receive_str()
        name, payload, offset = json.loads(frame.removeprefix("42/recovering,"))
        assert name == "news" and offset  # stored: it came through the stream
        assert payload == {"point": {"x": 1, "y": 2, "label": None}, "text": "a\udfffb"}

        # Past msgpack's 1024 levels: the stream cannot keep it, so it is sent to nobody (a
        # client recovering it could not get it) and the emitter is told. Redis stays up: the
        # next emit is stored and crosses as before, and it is the next thing either reader sees.
        local, _ = await raw_client.join(http, a, "/recovering", None)
        assert await raw_client.ask(local, "/recovering", 1, "enter", "r") is True
        deep: list[Any] = []
        for _ in range(1100):
            deep = [deep]
        with pytest.raises(Unencodable):
            await a.app[SIO].emit("news", deep, namespace="/recovering", to="r")
        await a.app[SIO].emit("news", "after", namespace="/recovering", to="r")
        frame = await local.receive_str()
        assert frame.startswith('42/recovering,["news","after","')  # with its offset
        assert (await reader.receive_str()).startswith('42/recovering,["news","after","')
        await local.close()

        keeper, hello = await raw_client.join(http, a, "/recovering", None)
        assert await raw_client.ask(keeper, "/recovering", 1, "keep", "x\ud800") is True
        await keeper.close()  # the transport drops: node A keeps the session in Redis
        await eventually(lambda: not a.app[SIO].manager.is_connected(hello["sid"], "/recovering"))
        back, again = await raw_client.join(http, b, "/recovering", {"pid": hello["pid"]})
        assert again["sid"] == hello["sid"]  # recovered on the other node
        state = await raw_client.ask(back, "/recovering", 1, "state")
        assert state["recovered"] is True and state["kept"] == "x\ud800"
        for node in (a, b):
            async with http.get(node.make_url("/readyz")) as r:
                assert r.status == 200, await r.text()
        for ws in (reader, back):
            await ws.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_202_means_this_nodes_clients_have_it_even_if_redis_dies_right_after(
    redis_process: RedisProcess,  # first: it must outlive the nodes
    start_server: StartServer,
    redis_prefix: str,
) -> None:
    """deploy/README's promise: in a namespace with recovery on Redis, a 202 means the message
    is in the stream and queued on the open sessions of this node's clients in the room. So
    they get it even when Redis is killed right after the answer (the other node's clients
    get it only if their node read it first: that is the documented outage loss). While Redis
    is down, the API still answers 202 for this node's clients (without an offset), and only
    the room's clients get it."""
    shared = {"manager": "redis", "redis_url": redis_process.url, "redis_prefix": redis_prefix}
    a = await start_server(**shared, api_key=KEY)
    b = await start_server(**shared)
    here = [Member("json", "websocket"), Member("msgpack", "polling")]
    there, outside = Member(), Member()  # outside: on the emitting node, not in the room
    try:
        for member, node in [(here[0], a), (here[1], a), (there, b)]:
            await member.connect(node)
            assert await member.call("enter", "r") is True
        await outside.connect(a)
        url = str(a.make_url("/api/v1/emit"))
        async with aiohttp.ClientSession() as http:
            # The nodes' stream readers are held off first (for their backoff, 0.1 s, which is
            # all the 202s and the kill take): only the emitting node's own delivery can reach
            # its clients. Were they delivered only from the stream, they would never arrive.
            await cut_stream_readers(redis_process.url)
            for n in (1, 2, 3):
                body = {"namespace": NS, "room": "r", "event": "news", "data": n}
                async with http.post(url, json=body, headers=AUTH) as answer:
                    assert answer.status == 202
            redis_process.stop(signal.SIGKILL)
            for member in here:
                await until(lambda m=member: m.got == [1, 2, 3])  # type: ignore[misc]
                assert member.offset is not None  # stored: they carried their offsets
            body = {"namespace": NS, "room": "r", "event": "news", "data": 4}
            async with http.post(url, json=body, headers=AUTH) as answer:
                assert answer.status == 202
            body = {"namespace": NS, "event": "news", "data": 5}  # the whole namespace
            async with http.post(url, json=body, headers=AUTH) as answer:
                assert answer.status == 202
        for member in here:
            await until(lambda m=member: m.got == [1, 2, 3, 4, 5])  # type: ignore[misc]
        await until(lambda: outside.got == [5])
    finally:
        for member in [*here, there, outside]:
            await member.close()


async def test_what_another_node_stored_comes_in_order_with_this_nodes_append(
    redis_process: RedisProcess, start_server: StartServer, redis_prefix: str
) -> None:
    """An append's answer holds every entry from this node's position up to its own: what
    another node stored meanwhile, not yet read here, comes with it and is delivered first,
    once (the reader then goes on past both). The readers are held off for their backoff, so
    B's emit reaches A's clients only in A's append answer."""
    shared = {"manager": "redis", "redis_url": redis_process.url, "redis_prefix": redis_prefix}
    a, b = await start_server(**shared), await start_server(**shared)
    member = Member()
    try:
        await member.connect(a)
        assert await member.call("enter", "r") is True
        await cut_stream_readers(redis_process.url)
        await b.app[SIO].emit("news", 1, namespace=NS, to="r")
        await b.app[SIO].emit("news", 2, namespace=NS, to="r")
        await a.app[SIO].emit("news", 3, namespace=NS, to="r")
        await until(lambda: len(member.got) >= 3)
        await b.app[SIO].emit("news", 4, namespace=NS, to="r")  # read by A's reader again
        await until(lambda: len(member.got) >= 4)
        assert member.got == [1, 2, 3, 4]
    finally:
        await member.close()


async def cut_stream_readers(url: str) -> None:
    """Answer the nodes' stream readers, blocked in XREAD, with an error: each waits out its
    first backoff (0.1 s) before it reads again."""
    redis = aioredis.Redis.from_url(url)
    try:
        readers = [c for c in await redis.client_list() if c.get("cmd") == "xread"]
        assert readers, "no stream reader is waiting"
        for reader in readers:
            assert await redis.client_unblock(int(reader["id"]), error=True)
    finally:
        await redis.aclose()
