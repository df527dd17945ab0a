"""Clients of several nodes: the ``client`` fixture and small HTTP helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import socketio

CHAT = "/chat"
CLIENT_SERIALIZERS = {"json": "default", "msgpack": "msgpack"}

Client = Callable[..., Awaitable[socketio.AsyncClient]]


@pytest.fixture(name="client")
async def client_fixture() -> AsyncIterator[Client]:
    """Connect a python-socketio client to a node; all are disconnected at teardown."""
    clients: list[socketio.AsyncClient] = []

    async def factory(
        node: Any, serializer: str = "json", transport: str = "websocket"
    ) -> socketio.AsyncClient:
        c = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer])
        clients.append(c)
        await c.connect(
            str(node.make_url("/")), namespaces=[CHAT], transports=[transport], wait_timeout=5
        )
        return c

    yield factory
    for c in clients:
        if c.connected:
            await c.disconnect()
        await c.shutdown()
