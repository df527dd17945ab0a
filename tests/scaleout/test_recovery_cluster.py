"""Connection-state recovery across nodes on one Redis, with the stock npm socket.io-client.

Node K runs as a separate process so that the JS script can kill it (SIGKILL, a crash); nodes
A and B run in the test's event loop. The client reaches A or K through a TCP proxy that the
script switches to B, as a load balancer does when a node drops a connection or dies.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from socketsvc.app.factory import SIO
from socketsvc.errors import Unencodable
from socketsvc.protocol import json_format
from tests import raw_client
from tests.cli_node import cli_node
from tests.conftest import StartServer, eventually
from tests.e2e.test_js_clients import assert_all_passed, run_node
from tests.sample_handlers import Point


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("parser", ["json", "msgpack"])
async def test_stock_js_client_recovers_on_another_node(
    node: str,
    start_server: StartServer,
    redis_url: str,
    redis_prefix: str,
    parser: str,
    transport: str,
    tmp_path: Path,
) -> None:
    cluster: dict[str, Any] = {
        "manager": "redis",
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
    }
    a, b = await start_server(**cluster), await start_server(**cluster)
    config = tmp_path / "k.toml"
    config.write_text('[namespaces]\n"/recovering" = "tests.sample_handlers:RecoveringNamespace"\n')
    async with cli_node(
        "--config",
        str(config),
        "--manager",
        "redis",
        "--redis-url",
        redis_url,
        "--redis-prefix",
        redis_prefix,
        "--log-level",
        "info",
    ) as k:
        env = {
            "NODE_A": str(a.make_url("")).rstrip("/"),
            "NODE_B": str(b.make_url("")).rstrip("/"),
            "NODE_K": k.url,
            "KILL_PID": str(k.proc.pid),
            "PARSER": parser,
            "TRANSPORT": transport,
        }
        assert_all_passed(await run_node(node, "recovery_cluster.test.mjs", env))


def carries(value: Any) -> bool:
    """Whether the JSON wire format can encode ``value`` on this Python."""
    try:
        json_format.dumps(value)
    except Exception:
        return False
    return True


async def test_stored_emits_and_kept_sessions_cross_redis_as_the_bus_does(
    start_server: StartServer,
    redis_url: str,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The stream and the kept sessions pack values as the bus does: a dataclass as its fields,
    a lone surrogate as Python holds it (JSON clients get it escaped). A value is never taken
    for a Redis outage: Redis stays ready and nothing is logged as an error."""
    cluster = {"manager": "redis", "redis_url": redis_url, "redis_prefix": redis_prefix}
    a, b = await start_server(**cluster), await start_server(**cluster)
    async with aiohttp.ClientSession() as http:
        reader, _ = await raw_client.join(http, b, "/recovering", None)
        assert await raw_client.ask(reader, "/recovering", 1, "enter", "r") is True
        odd = {"point": Point(1, 2), "text": "a\udfffb"}
        await a.app[SIO].emit("news", odd, namespace="/recovering", to="r")
        frame = await reader.receive_str()
        name, payload, offset = json.loads(frame.removeprefix("42/recovering,"))
        assert name == "news" and offset  # stored: it came through the stream
        assert payload == {"point": {"x": 1, "y": 2, "label": None}, "text": "a\udfffb"}

        # Past msgpack's 1024 levels: not stored, not sent to other nodes, the emitter is told.
        # This node's JSON clients get it where JSON can nest that deep (3.12+; on 3.11 the C
        # encoder stops at the recursion limit, about 1000). Redis stays up: the next emit is
        # stored and crosses as before, and it is the next thing either reader sees.
        local, _ = await raw_client.join(http, a, "/recovering", None)
        assert await raw_client.ask(local, "/recovering", 1, "enter", "r") is True
        deep: list[Any] = []
        for _ in range(1100):
            deep = [deep]
        with pytest.raises(Unencodable):
            await a.app[SIO].emit("news", deep, namespace="/recovering", to="r")
        await a.app[SIO].emit("news", "after", namespace="/recovering", to="r")
        frame = await local.receive_str()
        if carries(deep):
            assert frame == '42/recovering,["news",' + "[" * 1101 + "]" * 1101 + "]"  # no offset
            frame = await local.receive_str()
        assert frame.startswith('42/recovering,["news","after","')  # with its offset
        assert (await reader.receive_str()).startswith('42/recovering,["news","after","')
        await local.close()

        keeper, hello = await raw_client.join(http, a, "/recovering", None)
        assert await raw_client.ask(keeper, "/recovering", 1, "keep", "x\ud800") is True
        await keeper.close()  # the transport drops: node A keeps the session in Redis
        await eventually(lambda: not a.app[SIO].manager.is_connected(hello["sid"], "/recovering"))
        back, again = await raw_client.join(http, b, "/recovering", {"pid": hello["pid"]})
        assert again["sid"] == hello["sid"]  # recovered on the other node
        state = await raw_client.ask(back, "/recovering", 1, "state")
        assert state["recovered"] is True and state["kept"] == "x\ud800"
        for node in (a, b):
            async with http.get(node.make_url("/readyz")) as r:
                assert r.status == 200, await r.text()
        for ws in (reader, back):
            await ws.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
