"""What a machine of ``--workers 2`` answers as a whole: health, readiness and metrics of every
worker, the emit and disconnect API, presence and history, and the Admin UI; and one browser
connection kept alive across the sessions of both workers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import bcrypt
import socketio
from prometheus_client.parser import text_string_to_metric_families

from socketsvc.workers.sockets import owner
from tests.conftest import Inbox
from tests.workers.machine import machine

NS = "/machine"


@contextlib.asynccontextmanager
async def spread(url: str, namespace: str = NS) -> AsyncIterator[list[socketio.AsyncClient]]:
    """python-socketio clients until each of the two workers has one (at most 40)."""
    clients: list[socketio.AsyncClient] = []
    tags: set[str] = set()
    try:
        while len(tags) < 2:
            assert len(clients) < 40, "every client landed on one worker"
            client = socketio.AsyncClient()
            clients.append(client)
            await client.connect(url, namespaces=[namespace], transports=["websocket"])
            tags.add(client.eio.sid[:2])
        yield clients
    finally:
        for client in clients:
            await client.disconnect()
            await client.shutdown()


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status, await response.text()


async def test_health_readiness_and_metrics_answer_for_every_worker(tmp_path: Path) -> None:
    async with machine(tmp_path, "--metrics-token", "m3trics") as m, spread(m.url) as clients:
        status, body = await get(m.url + "/healthz")
        health = json.loads(body)
        assert status == 200 and health["workers"] == {"configured": 2, "answering": 2}
        assert health["clients"] == len(clients)
        assert await get(m.url + "/readyz") == (200, '{"status": "ready"}')
        assert (await get(m.url + "/metrics"))[0] == 401
        status, text = await get(m.url + "/metrics", {"Authorization": "Bearer m3trics"})
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(text)}  # one of each
        assert {s.labels["state"]: s.value for s in families["socketsvc_workers"].samples} == {
            "configured": 2,
            "answering": 2,
        }
        members = families["socketsvc_namespace_clients"].samples
        per_worker = {s.labels["worker"]: s.value for s in members if s.labels["namespace"] == NS}
        assert set(per_worker) == {"0", "1"} and sum(per_worker.values()) == len(clients)
        nodes = {s.labels["node"] for s in families["socketsvc_info"].samples}
        assert len(nodes) == 2 and all(n.endswith(("-w0", "-w1")) for n in nodes)
        assert all(
            "worker" in s.labels
            for name, family in families.items()
            if name != "socketsvc_workers"
            for s in family.samples
        )


async def test_the_api_reaches_clients_on_every_worker(tmp_path: Path) -> None:
    key = {"Authorization": "Bearer k3y"}
    async with machine(tmp_path, "--api-key", "k3y") as m, spread(m.url) as clients:
        news = [Inbox(c, "news", NS) for c in clients]
        gone = [asyncio.Event() for _ in clients]
        for client, event in zip(clients, gone, strict=True):
            client.on("disconnect", event.set, namespace=NS)
        for client in clients:
            assert await client.call("enter", "api", namespace=NS, timeout=5)
        async with aiohttp.ClientSession(headers=key) as http:
            body = {"namespace": NS, "room": "api", "event": "news", "data": {"n": 1}}
            async with http.post(m.url + "/api/v1/emit", json=body) as response:
                assert response.status == 202
            for inbox in news:  # /machine has recovery: the offset comes last
                payload, offset = await inbox.get()
                assert payload == {"n": 1} and isinstance(offset, str)
            body = {"namespace": NS, "room": "api"}
            async with http.post(m.url + "/api/v1/disconnect", json=body) as response:
                assert response.status == 202
        async with asyncio.timeout(5):
            for event in gone:
                await event.wait()


async def test_presence_and_history_are_the_machines(tmp_path: Path) -> None:
    async with machine(tmp_path) as m, spread(m.url, "/chat") as clients:
        first, second = clients[0], clients[-1]  # on different workers
        assert first.eio.sid[:2] != second.eio.sid[:2]
        join = {"room": "lobby", "name": "ann"}
        assert (await first.call("join", join, namespace="/chat", timeout=5))["members"] == ["ann"]
        said = await first.call(
            "message", {"room": "lobby", "text": "hi", "client_id": "c1"}, namespace="/chat"
        )
        again = await first.call(
            "message", {"room": "lobby", "text": "hi", "client_id": "c1"}, namespace="/chat"
        )
        assert again == said  # a retry is answered, not sent again
        join = {"room": "lobby", "name": "bob", "history": 10}
        ack = await second.call("join", join, namespace="/chat", timeout=5)
        assert ack["members"] == ["ann", "bob"]
        assert [message["text"] for message in ack["history"]] == ["hi"]


async def test_the_admin_ui_sees_every_workers_sockets(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"changeit", bcrypt.gensalt(4)).decode()
    flags = ("--admin-ui", "--admin-password-hash", hashed)
    async with machine(tmp_path, *flags) as m, spread(m.url) as clients:
        admin = socketio.AsyncClient()
        events = ("all_sockets", "server_stats", "room_joined")
        inbox = {event: Inbox(admin, event, "/admin") for event in events}
        connected = Inbox(admin, "socket_connected", "/admin")
        try:
            auth = {"username": "admin", "password": "changeit"}
            await admin.connect(m.url, namespaces=["/admin"], auth=auth, transports=["websocket"])
            listed = await inbox["all_sockets"].get()
            assert {s["id"] for s in listed} == {c.get_sid(NS) for c in clients}
            servers: set[str] = set()
            while len(servers) < 2:  # each worker reports its own stats
                servers.add((await inbox["server_stats"].get(timeout=10))["serverId"])
            async with spread(m.url) as more:  # new clients on both workers are seen
                seen = set()
                while len(seen) < len(more):
                    client, _ = await connected.get()
                    seen.add(client["id"])
                assert seen == {c.get_sid(NS) for c in more}
            await admin.emit("join", (NS, "vip", None), namespace="/admin")
            joined = set()
            while len(joined) < len(clients):
                _, room, sid, _ = await inbox["room_joined"].get()
                if room == "vip" and sid in {c.get_sid(NS) for c in clients}:
                    joined.add(sid)
            count = await clients[0].call("count", "vip", namespace=NS, timeout=5)
            assert set(count) == {c.get_sid(NS) for c in clients}
        finally:
            await admin.disconnect()
            await admin.shutdown()


async def test_one_keep_alive_connection_carries_sessions_of_both_workers(tmp_path: Path) -> None:
    """A browser reuses its keep-alive connections for any request to the host: the requests
    of two sessions owned by different workers, alternating on one connection, each reach
    their owner (Node's @socket.io/sticky routes only a connection's first request)."""
    async with machine(tmp_path) as m:
        polling = m.url + "/socket.io/?EIO=4&transport=polling"
        sids: dict[int, str] = {}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as h:
            for _ in range(40):
                async with h.get(polling) as response:
                    sid = json.loads((await response.text())[1:])["sid"]
                sids.setdefault(owner(sid, 2) or 0, sid)
                if len(sids) == 2:
                    break
        assert len(sids) == 2
        opened: list[object] = []
        trace = aiohttp.TraceConfig()

        async def on_open(*args: Any) -> None:
            opened.append(args)

        trace.on_connection_create_end.append(on_open)
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector, trace_configs=[trace]) as http:

            async def request(method: str, sid: str, data: str | None = None) -> str:
                url = f"{polling}&sid={sid}"
                async with http.request(method, url, data=data) as response:
                    assert response.status == 200, await response.text()
                    return await response.text()

            for round_ in range(3):
                for sid in sids.values():
                    if round_ == 0:
                        assert await request("POST", sid, "40/machine,") == "ok"
                        assert (await request("GET", sid)).startswith("40/machine,")
                    else:
                        payload = f'42/machine,{round_}["where"]'
                        assert await request("POST", sid, payload) == "ok"
                        answer = await request("GET", sid)
                        assert answer.startswith(f"43/machine,{round_}[")
        assert len(opened) == 1  # all of it on one connection


async def test_a_takeover_drops_only_the_connection_it_took_and_a_retry_is_sent_once(
    tmp_path: Path,
) -> None:
    """A client's session is claimed again and again (its network changed, say) until the
    claim lands on the other worker: each claim drops the connection it took the session from
    and no other; a send retried there with the same key (as /chat's client_id) is answered
    with the first answer and reaches the room once (the hub checks the key as it appends)."""
    async with machine(tmp_path) as m, spread(m.url) as clients:
        watcher = next(c for c in clients if c.eio.sid[:2] != clients[0].eio.sid[:2])
        said: list[str] = []
        watcher.on("said", lambda key, offset: said.append(key), namespace=NS)
        assert await watcher.call("enter", "talk", namespace=NS, timeout=5)
        first = clients[0]
        who = await first.call("whoami", namespace=NS, timeout=5)
        answer = await first.call("say", ("talk", "k1"), namespace=NS, timeout=5)
        assert answer["first"] == who["sid"]
        holder, home = first, first.eio.sid[:2]
        for _ in range(40):
            gone = asyncio.Event()
            holder.on("disconnect", gone.set, namespace=NS)
            claimer = socketio.AsyncClient()
            clients.append(claimer)
            auth = {"pid": who["pid"]}
            await claimer.connect(m.url, namespaces=[NS], transports=["websocket"], auth=auth)
            state = await claimer.call("state", namespace=NS, timeout=5)
            assert state == {"sid": who["sid"], "recovered": True, "rooms": []}
            async with asyncio.timeout(5):
                await gone.wait()  # the connection it took the session from
            assert claimer.connected and watcher.connected  # and no other
            holder = claimer
            if claimer.eio.sid[:2] != home:
                break
        assert holder.eio.sid[:2] != home, "every claim landed on the first worker"
        retried = await holder.call("say", ("talk", "k1"), namespace=NS, timeout=5)
        assert retried == answer
        assert await holder.call("say", ("talk", "k2"), namespace=NS, timeout=5) != answer
        async with asyncio.timeout(5):
            while said != ["k1", "k2"]:
                assert len(said) <= 2, said
                await asyncio.sleep(0.02)
