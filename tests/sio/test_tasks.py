"""Handlers run inside asyncio tasks of their own, on every supported Python and event loop.

Each handler in ``tests.sample_handlers.TaskAwareNamespace`` runs, as its first statement, a
construct that only works in a task (``asyncio.timeout``, ``call()``, which is built on
``wait_for``) or that shows whose context it runs in (a ``ContextVar``). They are driven by
python-socketio's client (both serializers, both transports), by the stock npm
``socket.io-client`` (both parsers), and against the CLI's uvloop as well as plain asyncio.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from typing import Any

import aiohttp
import pytest
import socketio

from tests.cli_node import cli_node
from tests.conftest import CLIENT_SERIALIZERS, Connect, StartServer, eventually
from tests.e2e.test_js_clients import assert_all_passed, run_node

NS = "/tasks"


async def call(client: socketio.AsyncClient, event: str, data: Any = None) -> Any:
    return await client.call(event, data, namespace=NS, timeout=5)


async def test_asyncio_timeout_as_the_first_statement(connect: Connect) -> None:
    client = await connect([NS])
    assert await call(client, "timed", 1) == {"in_task": True, "value": 1}
    assert await call(client, "deadline", 0.05) == "timed out"


async def test_call_as_the_first_await(connect: Connect) -> None:
    client = await connect([NS])

    async def question(data: Any) -> Any:
        return {"echoed": data}

    client.on("question", question, namespace=NS)
    assert await call(client, "ask", "why?") == {"answer": {"echoed": "why?"}}


async def test_a_context_variable_does_not_outlive_its_event(connect: Connect) -> None:
    alice, bob = await connect([NS]), await connect([NS])
    # on_connect set it too: that value stays in the connect handler's task.
    assert await call(alice, "remember", "alice-1") == {"before": None}
    assert await call(alice, "recall") == {"before": None}
    assert await call(alice, "remember", "alice-2") == {"before": None}
    assert await call(bob, "recall") == {"before": None}


async def test_the_builtin_connection_refused_error_reaches_the_client(connect: Connect) -> None:
    errors: list[Any] = []
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect([NS], auth={"refuse": ["no entry"]}, connect_errors=errors)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect([NS], auth={"refuse": ["closed", {"code": "closed"}]}, connect_errors=errors)
    assert errors == [{"message": "no entry"}, {"message": "closed", "data": {"code": "closed"}}]


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
async def test_on_uvloop_a_context_variable_stays_in_its_task(
    serializer: str, tmp_path: Any
) -> None:
    """The CLI's loop (uvloop) runs every connection's callbacks in one context: a handler
    running outside a task there would leak its variables to other users."""
    config = tmp_path / "tasks.toml"
    config.write_text('[namespaces]\n"/tasks" = "tests.sample_handlers:TaskAwareNamespace"\n')
    async with cli_node("--config", str(config), "--log-level", "info") as node:
        assert "loop=uvloop" in node.output
        clients = [socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer]) for _ in "ab"]
        try:
            for client in clients:
                await client.connect(node.url, namespaces=[NS], transports=["websocket"])
            alice, bob = clients
            assert await call(alice, "remember", "alice-1") == {"before": None}
            assert await call(alice, "recall") == {"before": None}
            assert await call(bob, "recall") == {"before": None}
            assert await call(bob, "timed", "b") == {"in_task": True, "value": "b"}
        finally:
            for client in clients:
                await client.disconnect()
                await client.shutdown()
    assert "Traceback" not in node.output


@pytest.mark.parametrize("transport", ["websocket", "polling", "upgrade"])
@pytest.mark.parametrize("parser", ["json", "msgpack"])
async def test_stock_js_client(
    node: str, start_server: StartServer, parser: str, transport: str
) -> None:
    server = await start_server()
    url = str(server.make_url("")).rstrip("/")
    env = {"SOCKETSVC_URL": url, "PARSER": parser, "TRANSPORT": transport}
    assert_all_passed(await run_node(node, "handler_tasks.test.mjs", env))


async def test_websocket_joins_in_bursts_on_two_redis_nodes(
    start_server: StartServer,
    redis_url: str,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``/chat`` joins write presence through redis-py, which opens its pooled connections
    under ``asyncio.timeout``: on fresh nodes (cold pools) a burst of joins must all land."""
    settings = {"manager": "redis", "redis_url": redis_url, "redis_prefix": redis_prefix}
    nodes = [await start_server(**settings), await start_server(**settings)]
    clients: list[socketio.AsyncClient] = []
    per_node = 15
    try:
        for index in range(per_node * len(nodes)):
            client = socketio.AsyncClient(
                serializer=CLIENT_SERIALIZERS[("json", "msgpack")[index % 2]]
            )
            await client.connect(
                str(nodes[index % 2].make_url("/")), namespaces=["/chat"], transports=["websocket"]
            )
            clients.append(client)
        with caplog.at_level(logging.WARNING, logger="socketsvc"):
            acks = await asyncio.gather(
                *(
                    c.call(
                        "join", {"room": "burst", "name": f"user{i}"}, namespace="/chat", timeout=5
                    )
                    for i, c in enumerate(clients)
                )
            )
        assert all("members" in ack for ack in acks), acks
        expected = sorted(f"user{i}" for i in range(len(clients)))
        for node, client in zip(nodes, clients, strict=False):
            ack = await client.call("members", {"room": "burst"}, namespace="/chat", timeout=5)
            assert sorted(ack["members"]) == expected
            async with (
                aiohttp.ClientSession() as http,
                http.get(str(node.make_url("/readyz"))) as response,
            ):
                assert response.status == 200, await response.text()
        problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert problems == []
    finally:
        for client in clients:
            await client.disconnect()
            await client.shutdown()


async def test_a_client_that_vanishes_during_its_connect_handler_leaves_no_state(
    start_server: StartServer,
) -> None:
    """The connect flow runs to its end in its own task even when the transport's task is
    cancelled because the TCP connection was cut; the half-connected namespace is then
    disconnected again instead of staying in the room table with a dead transport."""
    from socketsvc.app.factory import SIO

    server = await start_server()
    sio = server.app[SIO]
    for _ in range(3):
        reader, writer = await asyncio.open_connection(server.host, server.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: test\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        assert b"sid" in await reader.read(512)  # the OPEN packet
        writer.write(masked_text_frame("40/slow,"))  # its connect handler sleeps 50 ms
        await writer.drain()
        await eventually(lambda: "/slow" in sio.manager.pending_connect)
        writer.transport.abort()  # gone, mid-connect
    await eventually(lambda: not sio.eio.sockets and not len(sio.tasks) and not sio.environ)
    manager = sio.manager
    assert "/slow" not in manager.rooms
    assert not manager.pending_connect and not manager.pending_disconnect
    assert sio.reader.state_size() == 0 and len(sio.deadlines) == 0


def masked_text_frame(text: str) -> bytes:
    """A client-to-server websocket text frame (RFC 6455: clients mask their frames)."""
    payload, mask = text.encode(), os.urandom(4)
    assert len(payload) < 126
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked
