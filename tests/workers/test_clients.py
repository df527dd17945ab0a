"""Stock clients against ``socketsvc serve --workers 2`` on one port, for each transport:
the npm socket.io-client (tests/js/workers.test.mjs) and the python-socketio client, each with
the JSON and the msgpack parser. Clients land on both workers; every ack is answered; room
broadcasts, calls, cluster requests and recovery work across the workers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import socketio

from tests.conftest import CLIENT_SERIALIZERS, Inbox
from tests.e2e.test_js_clients import assert_all_passed, run_node
from tests.workers.machine import machine

TRANSPORTS = {
    "polling": ["polling"],
    "websocket": ["websocket"],
    "upgrade": ["polling", "websocket"],
}


async def python_clients(url: str, serializer: str, transport: str) -> list[socketio.AsyncClient]:
    """Clients until at least two are on each of the two workers (at most 40)."""
    clients: list[socketio.AsyncClient] = []
    pids: dict[int, int] = {}
    while sum(1 for n in pids.values() if n >= 2) < 2:
        assert len(clients) < 40, f"every client landed on one worker: {pids}"
        client = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer])
        clients.append(client)
        await client.connect(
            url, namespaces=["/machine"], transports=TRANSPORTS[transport], wait_timeout=5
        )
        pid = await client.call("where", namespace="/machine", timeout=5)
        pids[pid] = pids.get(pid, 0) + 1
    return clients


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_stock_clients_on_one_port(node: str, tmp_path: Path, transport: str) -> None:
    async with machine(tmp_path) as m:
        report = await run_node(
            node, "workers.test.mjs", {"SOCKETSVC_URL": m.url, "TRANSPORT": transport}, 90
        )
        assert_all_passed(report)
        for serializer in CLIENT_SERIALIZERS:
            clients = await python_clients(m.url, serializer, transport)
            try:
                await python_clients_share_the_machine(clients, serializer)
            finally:
                for client in clients:
                    await client.disconnect()
                    await client.shutdown()


async def python_clients_share_the_machine(
    clients: list[socketio.AsyncClient], serializer: str
) -> None:
    ns = "/machine"
    pids = [await c.call("where", namespace=ns, timeout=5) for c in clients]
    assert len(set(pids)) == 2
    room = f"py-{serializer}"
    inboxes = [Inbox(c, "news", ns) for c in clients]
    assert all(await asyncio.gather(*(c.call("enter", room, namespace=ns) for c in clients)))
    a, b = clients[0], clients[pids.index(next(p for p in pids if p != pids[0]))]
    assert await a.call("tell", (room, "from a"), namespace=ns, timeout=5)
    assert await b.call("tell", (room, "from b"), namespace=ns, timeout=5)
    for inbox in inboxes:
        assert [(await inbox.get())[0], (await inbox.get())[0]] == ["from a", "from b"]
    # the server calls a client on the other worker; its ack comes back
    b.on("question", lambda question: {"answer": 42, "asked": question["from"]}, namespace=ns)
    answer = await a.call("ask", b.get_sid(ns), namespace=ns, timeout=5)
    assert answer == {"answer": 42, "asked": a.get_sid(ns)}
