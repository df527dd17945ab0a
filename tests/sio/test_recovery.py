"""Connection-state recovery, as the stock socket.io-client (4.6+) uses it, on one node.

The JS cases (tests/js/recovery.test.mjs) run for each parser and transport against three
servers: default windows, a 1 s window, and a log that keeps 3 packets.
"""

from __future__ import annotations

import pytest
import socketio

from socketsvc.app.factory import SIO
from tests.app.test_metrics import scrape
from tests.conftest import CLIENT_SERIALIZERS, Connect, Inbox, StartServer, eventually
from tests.e2e.test_js_clients import assert_all_passed, run_node


@pytest.mark.parametrize("transport", ["websocket", "polling", "upgrade"])
@pytest.mark.parametrize("parser", ["json", "msgpack"])
async def test_stock_js_client_recovers(
    node: str, start_server: StartServer, parser: str, transport: str
) -> None:
    default = await start_server()
    short = await start_server(namespace_recovery={"/recovering": 1.0})
    small = await start_server(recovery_max_packets=3)
    env = {
        "SOCKETSVC_URL": str(default.make_url("")).rstrip("/"),
        "SHORT_WINDOW_URL": str(short.make_url("")).rstrip("/"),
        "SMALL_LOG_URL": str(small.make_url("")).rstrip("/"),
        "PARSER": parser,
        "TRANSPORT": transport,
    }
    assert_all_passed(await run_node(node, "recovery.test.mjs", env))
    # every client has gone: nothing is held for them but what the recovery log keeps
    servers = [default.app[SIO], short.app[SIO], small.app[SIO]]
    await eventually(lambda: all(sio.sessions.state_size() == 0 for sio in servers))
    assert all(sio.connections.state_size() == 0 for sio in servers)


async def test_a_namespace_without_recovery_is_unchanged(connect: Connect) -> None:
    """python-socketio's client has no recovery: on a namespace without it, events carry
    exactly their arguments and CONNECT has no pid."""
    client = await connect(["/test"])
    shouts = Inbox(client, "shout", "/test")
    await client.call("enter", "r", namespace="/test", timeout=5)
    await client.call("shout", ("r", "hello", True), namespace="/test", timeout=5)
    assert await shouts.get() == {"text": "hello"}


async def test_python_clients_see_the_offset_on_a_namespace_with_recovery(
    connect: Connect,
) -> None:
    client = await connect(["/recovering"])
    inbox = Inbox(client, "news", "/recovering")
    await client.call("enter", "r", namespace="/recovering", timeout=5)
    await client.call("tell", ("r", {"n": 1}), namespace="/recovering", timeout=5)
    payload, offset = await inbox.get()
    assert payload == {"n": 1} and isinstance(offset, str)


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
async def test_an_unknown_or_forged_pid_connects_fresh(
    start_server: StartServer, serializer: str
) -> None:
    server = await start_server()
    client = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer])
    try:
        await client.connect(
            str(server.make_url("/")),
            namespaces=["/recovering"],
            auth={"pid": "forged", "offset": "x-1", "token": None},
            transports=["websocket"],
        )
        state = await client.call("state", namespace="/recovering", timeout=5)
        assert state["recovered"] is False and state["rooms"] == []
        metrics = await scrape(server.make_url("/metrics"))
        miss = {"namespace": "/recovering", "reason": "unknown_session"}
        assert metrics.value("socketsvc_recovery_misses_total", **miss) == 1
    finally:
        await client.disconnect()
        await client.shutdown()
