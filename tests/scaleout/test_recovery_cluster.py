"""Connection-state recovery across nodes on one Redis, with the stock npm socket.io-client.

Node K runs as a separate process so that the JS script can kill it (SIGKILL, a crash); nodes
A and B run in the test's event loop. The client reaches A or K through a TCP proxy that the
script switches to B, as a load balancer does when a node drops a connection or dies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cli_node import cli_node
from tests.conftest import StartServer
from tests.e2e.test_js_clients import assert_all_passed, run_node


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
