"""The handler API's cluster-wide operations (``fetch_sockets``, ``server_side_emit``,
``server_side_call``) on one node (memory) and on socketsvc nodes sharing a Redis
(``redis_protocol = "socketsvc"``); the cluster with Node.js is test_node_cluster.py."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from socketsvc.app.factory import SERVICES
from tests.conftest import ConnectTo, StartServer
from tests.scaleout.mixed_handlers import NAMESPACES, MixedNamespace

NSP = "/mixed"


async def test_a_node_alone_answers_from_its_own_sockets(
    start_server: StartServer, connect_to: ConnectTo
) -> None:
    MixedNamespace.received.clear()
    server = await start_server(namespaces=NAMESPACES)
    a = await connect_to(server, "json", ns=NSP)
    b = await connect_to(server, "msgpack", ns=NSP)
    assert await a.call("enter", "r", namespace=NSP, timeout=5)
    found = await b.call("fetch", ("r", None), namespace=NSP, timeout=5)
    assert found == [
        {
            "id": a.get_sid(NSP),
            "rooms": sorted([a.get_sid(NSP), "r"]),
            "data": {"from": "socketsvc", "name": None},
        }
    ]
    everyone = await b.call("fetch", (None, a.get_sid(NSP)), namespace=NSP, timeout=5)
    assert [s["id"] for s in everyone] == [b.get_sid(NSP)]
    assert await a.call("ask", ("question", 1), namespace=NSP, timeout=5) == []  # no other node
    assert await a.call("tell", ("hello",), namespace=NSP, timeout=5) is True
    assert MixedNamespace.received == []  # serverSideEmit reaches the *other* nodes only


async def test_socketsvc_nodes_fetch_and_send_server_side_events_across_redis(
    start_server: StartServer,
    connect_to: ConnectTo,
    redis_url: str,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    MixedNamespace.received.clear()
    cluster: dict[str, Any] = {
        "manager": "redis",
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "namespaces": NAMESPACES,
    }
    a, b = await start_server(**cluster), await start_server(**cluster)
    third = await start_server(manager="redis", redis_url=redis_url, redis_prefix=redis_prefix)
    on_a = await connect_to(a, "json", ns=NSP)
    on_b = await connect_to(b, "msgpack", ns=NSP)
    for client in (on_a, on_b):
        assert await client.call("enter", "r", namespace=NSP, timeout=5)
    found = await on_a.call("fetch", ("r", None), namespace=NSP, timeout=5)
    assert [s["id"] for s in found] == [on_a.get_sid(NSP), on_b.get_sid(NSP)]  # its own first
    assert found[1]["data"] == {"from": "socketsvc", "name": None}

    answers = await on_a.call("ask", ("question", b"\x00\xff"), namespace=NSP, timeout=5)
    # b answers; the third node serves no /mixed and still answers, so nobody waits
    assert {"node": "socketsvc", "event": "question", "args": [b"\x00\xff"]} in answers
    (refusal,) = [x for x in answers if "error" in x]
    assert refusal["error"]["code"] == "unknown_event"
    assert await on_b.call("tell", ("hello", 1), namespace=NSP, timeout=5) is True
    services = a.app[SERVICES]
    assert services.cluster is not None
    await third.close()
    assert ("/mixed", "question", [b"\x00\xff"]) in MixedNamespace.received
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
