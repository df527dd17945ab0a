"""Failures around Redis: a node that dies without leaving, and Redis going away and back."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any

import aiohttp
import pytest
import socketio

from tests.app.test_metrics import scrape
from tests.cluster import CHAT, Client
from tests.conftest import ROOT, Inbox, StartServer
from tests.redis_support import RedisProcess, free_port
from tests.scaleout.test_cluster import call, readyz

REFRESH = 0.3  # presence_refresh for these tests: a dead node's members vanish within 0.9 s


async def members(c: Any, room: str = "r") -> list[str]:
    return list((await call(c, "members", {"room": room}))["members"])


async def wait_http(url: str, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if loop.time() > deadline:
                pytest.fail(f"{url} not ready within {timeout}s")
            await asyncio.sleep(0.05)


async def test_members_of_a_crashed_node_expire(
    start_server: StartServer, client: Client, redis_url: str, redis_prefix: str
) -> None:
    shared = {"manager": "redis", "redis_url": redis_url, "redis_prefix": redis_prefix}
    a = await start_server(**shared, presence_refresh=REFRESH)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SOCKETSVC_LOG_LEVEL": "warning"}
    flags = ["--port", str(port), "--manager", "redis", "--redis-url", redis_url]
    flags += ["--redis-prefix", redis_prefix, "--presence-refresh", str(REFRESH)]
    proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once
        [sys.executable, "-m", "socketsvc", "serve", *flags],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_http(f"http://127.0.0.1:{port}/readyz")
        alice = await client(a)
        await call(alice, "join", {"room": "r", "name": "alice"})

        # The test owns this client's HTTP session: its node is about to vanish.
        http = aiohttp.ClientSession()
        carol = socketio.AsyncClient(http_session=http, reconnection=False)
        await carol.connect(
            f"http://127.0.0.1:{port}", namespaces=[CHAT], transports=["websocket"], wait_timeout=5
        )
        await call(carol, "join", {"room": "r", "name": "carol"})
        assert await members(alice) == ["alice", "carol"]

        proc.send_signal(signal.SIGKILL)  # no clean leave, no more refreshes
        proc.wait(timeout=10)
        killed = time.monotonic()
        while await members(alice) != ["alice"]:
            assert time.monotonic() - killed < 3 * REFRESH + 1.0, "carol did not expire"
            await asyncio.sleep(0.05)
        assert time.monotonic() - killed <= 3 * REFRESH + 0.5
        await carol.shutdown()
        await http.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


async def test_nodes_survive_a_redis_outage(
    redis_process: RedisProcess,  # first: it must outlive the nodes
    start_server: StartServer,
    client: Client,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shared = {
        "manager": "redis",
        "redis_url": redis_process.url,
        "redis_prefix": redis_prefix,
        "presence_refresh": REFRESH,
    }
    started = time.monotonic()
    a, b = await start_server(**shared), await start_server(**shared)
    alice, amy, bob = await client(a), await client(a), await client(b)
    to_amy, to_bob = Inbox(amy, "message"), Inbox(bob, "message")
    for c, name in ((alice, "alice"), (amy, "amy"), (bob, "bob")):
        await call(c, "join", {"room": "r", "name": name})
    await call(alice, "message", {"room": "r", "text": "before"})
    assert (await to_amy.get())["text"] == (await to_bob.get())["text"] == "before"

    redis_process.stop(signal.SIGTERM)
    for node in (a, b):
        status = 0
        deadline = time.monotonic() + 10
        while status != 503:
            assert time.monotonic() < deadline, "readyz stayed 200 without Redis"
            status, body = await readyz(node)
            await asyncio.sleep(0.05)
        assert any("unreachable" in reason for reason in body["reasons"])

    # Local delivery keeps working, promptly, and the outage is logged once per node.
    for i in range(5):
        started = time.monotonic()
        await call(alice, "message", {"room": "r", "text": f"during {i}"})
        assert (await to_amy.get(timeout=1.0))["text"] == f"during {i}"
        assert time.monotonic() - started < 0.5
    assert await members(alice) == ["alice", "amy"]  # local view while Redis is away
    outage_logs = [
        r
        for r in caplog.records
        if r.levelno == logging.ERROR and r.name == "socketsvc.redis" and "bus:" in r.message
    ]
    assert len(outage_logs) == 2, [r.message for r in outage_logs]  # one per node

    redis_process.start()  # same port, empty: no persistence
    for node in (a, b):
        deadline = time.monotonic() + 15
        while (await readyz(node))[0] != 200:
            assert time.monotonic() < deadline, "readyz did not recover"
            await asyncio.sleep(0.05)
    await call(alice, "message", {"room": "r", "text": "after"})
    # The first message bob gets after "before" is "after": nothing sent during the outage
    # reached him late (delivery is at-most-once, not queued for replay).
    assert (await to_bob.get())["text"] == "after"
    assert (await to_amy.get())["text"] == "after"
    deadline = time.monotonic() + 5
    while await members(bob) != ["alice", "amy", "bob"]:  # presence resynchronised
        assert time.monotonic() < deadline, await members(bob)
        await asyncio.sleep(0.05)
    # What an operator sees of it (a: alice's and amy's node, b: bob's): bus traffic both
    # ways, the 5 messages dropped while Redis was away, one outage and one reconnect.
    m = {node: await scrape(node.make_url("/metrics")) for node in (a, b)}
    most = (time.monotonic() - started) / REFRESH + 2  # one per period, one at start, one spare
    assert m[a].value("socketsvc_bus_published_total") == 4  # 2 joins, "before", "after"
    assert m[b].value("socketsvc_bus_received_total") == 4
    assert (
        m[b].value("socketsvc_bus_published_total")
        == m[a].value("socketsvc_bus_received_total")
        == 1
    )
    assert m[a].value("socketsvc_bus_dropped_total") == 5
    assert m[b].value("socketsvc_bus_dropped_total") == 0
    for node in (a, b):
        assert m[node].value("socketsvc_redis_outages_total", component="bus") == 1
        assert m[node].value("socketsvc_redis_reconnects_total", component="bus") == 1
        assert 2 <= m[node].value("socketsvc_presence_refreshes_total") <= most
        assert m[node].value("socketsvc_presence_refresh_seconds_total") > 0
