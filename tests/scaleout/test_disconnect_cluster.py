"""Closing connections on every node: ``POST /api/v1/disconnect`` and ``Emitter.disconnect``
on two nodes sharing a real ``redis-server``.

The subject case runs stock socket.io-client (both parsers, websocket and polling): each user
has connections on both nodes, and only the named user's are closed, on both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp.test_utils import TestServer

from socketsvc.app.factory import SIO
from socketsvc.emitter import Emitter
from socketsvc.scaleout import bus
from tests.conftest import StartServer, eventually
from tests.security.conftest import AUTH_SETTINGS, Sockets, run_sockets, token

API_KEY = "test-key-0123456789"
Node = TestServer


@pytest.fixture
def start_node(
    start_server: StartServer, redis_url: str, redis_prefix: str
) -> Callable[..., Awaitable[Node]]:
    async def start(**overrides: Any) -> Node:
        values: dict[str, Any] = {
            **AUTH_SETTINGS,
            "manager": "redis",
            "redis_url": redis_url,
            "redis_prefix": redis_prefix,
            "api_key": API_KEY,
        }
        values.update(overrides)
        return await start_server(**values)

    return start


async def disconnect(node: Node, body: Any, key: str = API_KEY) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    url = str(node.make_url("/api/v1/disconnect"))
    async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def test_disconnect_by_subject_closes_the_users_connections_on_both_nodes(
    start_node: Callable[..., Awaitable[Node]], node: str
) -> None:
    a, b = await start_node(), await start_node()
    url_a, url_b = str(a.make_url("")).rstrip("/"), str(b.make_url("")).rstrip("/")
    exp = int(time.time()) + 300

    def sockets(i: int) -> Sockets:
        fired = token(sub=f"fired-{i}", exp=exp)
        kept = token(sub=f"kept-{i}", name="Kim", exp=exp)
        gone = [{"disconnect": True}]
        return [
            {"name": "a_chat", "url": url_a, "namespace": "/chat", "token": fired, "steps": gone},
            {"name": "b_test", "url": url_b, "namespace": "/test", "token": fired, "steps": gone},
            {"name": "b_chat", "url": url_b, "namespace": "/chat", "token": fired, "steps": gone},
            {  # another user on both nodes: still served once the first one's are closed
                "name": "other_b",
                "url": url_b,
                "namespace": "/test",
                "token": kept,
                "steps": [
                    *({"after": name, "steps": 1} for name in ("a_chat", "b_test", "b_chat")),
                    {"emit": "whoami"},
                    {"close": True},
                ],
            },
            {
                "name": "other_a",
                "url": url_a,
                "namespace": "/chat",
                "token": kept,
                "steps": [
                    {"after": "other_b", "steps": 4},
                    {"emit": "join", "args": [{"room": f"r-{i}"}]},
                    {"close": True},
                ],
            },
        ]

    async def fire(i: int) -> None:
        assert await disconnect(a, {"subject": f"fired-{i}"}) == (202, {"status": "accepted"})

    reports = await run_sockets(node, url_a, sockets, when_connected=fire)
    for report in reports:
        for name in ("a_chat", "b_test", "b_chat"):
            assert report[name][1]["disconnect"] == "io server disconnect", (name, report)
        assert report["other_b"][4]["ack"]["sub"].startswith("kept-")
        assert report["other_a"][2]["ack"]["members"] == ["Kim"]
    for n in (a, b):  # nothing kept for the closed connections
        connections = n.app[SIO].connections
        for i in range(len(reports)):
            assert connections.of_subject(f"fired-{i}") == []


@pytest.mark.parametrize("by", ["emitter", "api"])
async def test_the_emitter_or_the_api_closes_a_room_on_every_node(
    start_node: Callable[..., Awaitable[Node]], redis_url: str, redis_prefix: str, by: str
) -> None:
    a, b = await start_node(), await start_node()
    members: list[socketio.AsyncClient] = []
    closed: list[asyncio.Event] = []
    try:
        for n, serializer in ((a, "default"), (b, "msgpack"), (b, "default")):
            client = socketio.AsyncClient(serializer=serializer, reconnection=False)
            gone = asyncio.Event()
            client.on("disconnect", gone.set, namespace="/test")
            members.append(client)
            closed.append(gone)
            await client.connect(str(n.make_url("/")), namespaces=["/test"], wait_timeout=5)
        for client in members[:2]:  # the third stays out of the room
            await client.call("enter", "ops", namespace="/test", timeout=5)
        if by == "api":  # node a closes its own, and tells b
            accepted = (202, {"status": "accepted"})
            assert await disconnect(a, {"namespace": "/test", "room": "ops"}) == accepted
        else:
            async with Emitter(redis_url, prefix=redis_prefix) as emitter:
                with pytest.raises(ValueError, match="namespace: required with room"):
                    await emitter.disconnect(room="ops")
                assert await emitter.disconnect(namespace="/test", room="ops") == 2  # two nodes
        await asyncio.wait_for(asyncio.gather(closed[0].wait(), closed[1].wait()), 5)
        assert await members[2].call("whoami", namespace="/test", timeout=5) is None
        assert not closed[2].is_set()
    finally:
        for client in members:
            await client.disconnect()
            await client.shutdown()


async def test_a_malformed_disconnect_message_is_ignored_with_a_warning(
    start_node: Callable[..., Awaitable[Node]],
    redis_url: str,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    a = await start_node()
    client = socketio.AsyncClient(reconnection=False)
    try:
        await client.connect(str(a.make_url("/")), namespaces=["/test"], wait_timeout=5)
        async with Emitter(redis_url, prefix=redis_prefix) as emitter:
            raw = bus.encode({"method": bus.DISCONNECT_CLIENTS, "room": "r", "host_id": "x"})
            await emitter.redis.publish(emitter.channel, raw)
        channel = bus.channel(redis_prefix)
        warning = f"ignoring input on {channel}: bad disconnect_clients "
        warning += "(namespace: required with room) (counted in bus_ignored_total)"
        warning += " (logged once per cause)"
        await eventually(lambda: warning in caplog.messages)
        assert await client.call("whoami", namespace="/test", timeout=5) is None
    finally:
        await client.disconnect()
        await client.shutdown()
