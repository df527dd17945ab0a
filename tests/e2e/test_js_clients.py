"""The npm socket.io-client, driven from Node, against a running socketsvc.

Each case runs ``node --test`` on a script in ``tests/js/`` with the server URL, the parser and
the transport in its environment; the Node test runner's own report is shown on failure.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

from tests.conftest import StartServer

JS = Path(__file__).parents[1] / "js"


async def run_node(node: str, script: str, env: dict[str, str], timeout: float = 60) -> str:
    proc = await asyncio.create_subprocess_exec(
        node,
        "--test",
        "--test-reporter=spec",
        str(JS / script),
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    text = out.decode()
    assert proc.returncode == 0, text
    return text


@pytest.mark.logs_tracebacks  # the handler that fails on purpose
@pytest.mark.parametrize("transport", ["websocket", "polling", "upgrade"])
@pytest.mark.parametrize("parser", ["json", "msgpack"])
async def test_stock_js_client(
    node: str, start_server: StartServer, parser: str, transport: str
) -> None:
    server = await start_server()
    url = str(server.make_url("")).rstrip("/")
    report = await run_node(
        node, "interop.test.mjs", {"SOCKETSVC_URL": url, "PARSER": parser, "TRANSPORT": transport}
    )
    assert_all_passed(report)


def assert_all_passed(report: str) -> None:
    passed = re.search(r"\bpass (\d+)", report)
    assert passed and int(passed.group(1)) > 0 and re.search(r"\bfail 0\b", report), report


@pytest.mark.parametrize("transport", ["websocket", "polling", "upgrade"])
async def test_json_and_msgpack_clients_share_a_room(
    node: str, start_server: StartServer, transport: str
) -> None:
    server = await start_server()
    url = str(server.make_url("")).rstrip("/")
    report = await run_node(node, "mixed.test.mjs", {"SOCKETSVC_URL": url, "TRANSPORT": transport})
    assert_all_passed(report)
