"""A long-polling client recovering a long backlog keeps its connection. It reads 16 packets a
poll (python-engineio clients refuse more), so the replay takes many polls, and the server's
heartbeat must reach it meanwhile: queued behind the backlog, the PING would come after the
pong deadline, and the heartbeat would cut a client that reads as fast as it can (the chaos run
of #30: lagging polling members cut by ping timeouts again and again, each time starting their
catch-up over).

Two nodes on one redis-server (and one node in memory). The client is a raw JSON polling client
that polls every PACE seconds, as one on a slow link does, and answers each PING at once; the
replay of MISSED packets then spans several pong deadlines, on any machine.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from socketsvc.app.factory import SIO
from tests.recovering import (  # noqa: F401 - fixtures
    NS,
    Cluster,
    MakeCluster,
    make_cluster_fixture,
    wait_for,
)

MISSED = 500  # about 32 polls
PACE = 0.1  # seconds between polls: the replay takes >= 3 s, the pong deadline is 1 s


class PollingClient:
    """A raw Engine.IO polling session on one node: POSTs packets, and reads them in polls."""

    def __init__(self, http: aiohttp.ClientSession, node: Any) -> None:
        self.http, self.node = http, node
        self.url = ""
        self.closed = False

    async def open(self) -> str:
        base = str(self.node.make_url("/socket.io/")) + "?EIO=4&transport=polling"
        async with self.http.get(base) as r:
            sid: str = json.loads((await r.text())[1:])["sid"]
        self.url = f"{base}&sid={sid}"
        return sid

    async def post(self, packet: str) -> None:
        async with self.http.post(self.url, data=packet) as r:
            assert r.status == 200, await r.text()

    async def poll(self) -> list[str]:
        """One poll's Socket.IO packets; a PING is answered at once, a close is noted."""
        async with self.http.get(self.url) as r:
            if r.status != 200:
                self.closed = True
                return []
            packets = (await r.text()).split("\x1e")
        if "1" in packets:
            self.closed = True
        if "2" in packets:
            await self.post("3")
        return [p for p in packets if p.startswith("4")]


def news(packet: str) -> tuple[int, str] | None:
    """A ``news`` event's number and offset."""
    prefix = f"42{NS},"
    if not packet.startswith(prefix):
        return None
    event, number, offset = json.loads(packet[len(prefix) :])
    return (number, offset) if event == "news" else None


@pytest.mark.parametrize("make_cluster", ["memory", "redis"], indirect=True)
async def test_a_polling_client_replaying_a_long_backlog_is_not_cut_by_the_heartbeat(
    make_cluster: MakeCluster,
) -> None:
    """Every missed packet arrives, in order, none twice, on the connection that recovered,
    which is still open: the heartbeat reached the client while it read the replay."""
    cluster: Cluster = await make_cluster(ping_interval=0.2, ping_timeout=1.0)
    first, restorer = cluster.nodes[0], cluster.nodes[-1]
    async with aiohttp.ClientSession() as http:
        before = PollingClient(http, first)
        eio_sid = await before.open()
        await before.post(f"40{NS},")
        connected = json.loads((await before.poll())[0].split(",", 1)[1])
        await before.post(f'42{NS},1["enter","r"]')
        assert await before.poll() == [f"43{NS},1[true]"]
        await cluster.publish(1)
        got = [news(p) for p in await before.poll()]
        assert [n for n, _ in filter(None, got)] == [1]
        offset = got[0][1] if got[0] else ""
        await first.app[SIO].close_transport(eio_sid)
        await wait_for(lambda: cluster.kept(connected["pid"]))
        await cluster.publish(MISSED)

        after = PollingClient(http, restorer)
        await after.open()
        auth = {"pid": connected["pid"], "offset": offset}
        await after.post(f"40{NS}," + json.dumps(auth))
        reply, *received = await after.poll()
        assert json.loads(reply.split(",", 1)[1])["sid"] == connected["sid"]  # recovered
        async with asyncio.timeout(60):
            while len(received) < MISSED and not after.closed:
                await asyncio.sleep(PACE)  # the client's pace is the behaviour under test
                received += await after.poll()
        assert not after.closed, "cut while reading its replay"
        numbers = [n for n, _ in filter(None, map(news, received))]
        assert numbers == list(range(2, MISSED + 2))
        assert after.url.rpartition("=")[2] in restorer.app[SIO].eio.sockets
