"""Bus messages each node receives: one Redis (one bus channel) against a Redis Cluster (a
sharded channel per room), issue #28.

Four socketsvc nodes in this process on 127.0.0.1, 1,000 ``/chat`` rooms, each room's member
on one node (node i holds rooms k with k % 4 == i, one python-socketio client joined to all of
them). One emit per room, from the next node (so every emit crosses nodes), then each node's
``socketsvc_bus_received_total`` is read before and after. Real redis-server processes:
``python bench/bus_shards.py [--rooms 1000] [--nodes 4]``. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from socketsvc.app.factory import SIO, create_app  # noqa: E402
from socketsvc.config import Settings  # noqa: E402
from tests.redis_ha_support import ClusterGroup  # noqa: E402 - real redis-server processes
from tests.redis_support import RedisProcess, redis_binary  # noqa: E402


async def received(url: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as r:
        text = await r.text()
    for family in text_string_to_metric_families(text):
        if family.name == "socketsvc_bus_received":
            return float(family.samples[0].value)
    raise RuntimeError("no socketsvc_bus_received_total")


async def run(redis_url: str, cluster: bool, nodes: int, rooms: int) -> tuple[list[float], float]:
    """Bus messages each node received for one emit per room, and the seconds the joins took."""
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    runners, urls, apps = [], [], []
    for _ in range(nodes):
        settings = Settings(
            port=0,
            manager="redis",
            redis_url=redis_url,
            redis_cluster=cluster,
            redis_prefix=prefix,
            namespace_recovery={"/chat": 0},  # the bus, not the recovery stream
            log_level="warning",
            max_connections_per_ip=0,
            max_rooms_per_connection=0,  # one client per node joins all its rooms
            rate_limit_events=0,
        )
        app = create_app(settings)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        runners.append(runner)
        apps.append(app)
        urls.append(f"http://127.0.0.1:{port}")
    clients: list[socketio.AsyncClient] = []
    try:
        counts = [0] * nodes
        done = [asyncio.Event() for _ in range(nodes)]
        mine = [len(range(i, rooms, nodes)) for i in range(nodes)]
        joining = time.monotonic()
        for i, url in enumerate(urls):
            c = socketio.AsyncClient()

            def news(data: Any, i: int = i) -> None:
                counts[i] += 1
                if counts[i] == mine[i]:
                    done[i].set()

            c.on("news", news, namespace="/chat")
            await c.connect(url, namespaces=["/chat"], transports=["websocket"])
            for k in range(i, rooms, nodes):
                await c.call("join", {"room": f"room{k}", "name": f"n{i}"}, namespace="/chat")
            clients.append(c)
        joined = time.monotonic() - joining
        await asyncio.sleep(0.5)  # the joins' own bus traffic settles
        before = [await received(url) for url in urls]
        for k in range(rooms):
            sio = apps[(k % nodes + 1) % nodes][SIO]  # from the next node: every emit crosses
            await sio.emit("news", {"k": k}, namespace="/chat", to=f"room{k}")
        async with asyncio.timeout(60):
            for event in done:
                await event.wait()
        await asyncio.sleep(0.5)
        after = [await received(url) for url in urls]
        return [b - a for a, b in zip(before, after, strict=True)], joined
    finally:
        for c in clients:
            await c.disconnect()
            await c.shutdown()
        for runner in runners:
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=4)
    args = parser.parse_args()
    single = RedisProcess(redis_binary())
    single.start()
    try:
        one, one_s = asyncio.run(run(single.url, False, args.nodes, args.rooms))
    finally:
        single.close()
    with tempfile.TemporaryDirectory(prefix="socketsvc-bench-cluster-") as directory:
        group = ClusterGroup(Path(directory))
        try:
            sharded, sharded_s = asyncio.run(run(group.url, True, args.nodes, args.rooms))
        finally:
            group.close()
    print(f"{args.nodes} nodes, {args.rooms} rooms, one emit per room from another node\n")
    print("| node | rooms with members there | one Redis (one channel) | Redis Cluster (sharded) |")
    print("|---|---|---|---|")
    for i, (a, b) in enumerate(zip(one, sharded, strict=True)):
        held = len(range(i, args.rooms, args.nodes))
        print(f"| {i} | {held} | {a:,.0f} | {b:,.0f} |")
    print(f"| all | {args.rooms} | {sum(one):,.0f} | {sum(sharded):,.0f} |")
    print(f"\n{args.rooms} joins, one after another: {one_s:.1f} s and {sharded_s:.1f} s")


if __name__ == "__main__":
    main()
