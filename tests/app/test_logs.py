"""``log_format = "json"``: every line a JSON object with its context, one line per cause.

The node runs as operators run it (``python -m socketsvc serve``), and its stderr is read back.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import socketio

from tests.cli_node import cli_node
from tests.conftest import eventually

CONFIG = '[namespaces]\n"/test" = "tests.sample_handlers:EchoNamespace"\n'
BAD_CLIENTS = 12


def lines(output: str) -> list[dict[str, Any]]:
    """Every stderr line, parsed; a line that is not one JSON object fails the test."""
    parsed = []
    for line in output.splitlines():
        record = json.loads(line)
        assert isinstance(record, dict), line
        parsed.append(record)
    return parsed


async def send_garbage(url: str) -> None:
    """A websocket client whose first Socket.IO packet is not one."""
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket")
        await ws.receive()  # OPEN
        await ws.send_str("4this is not a packet")
        while (await ws.receive()).type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            pass


async def test_json_lines_carry_context_and_one_line_per_cause(tmp_path: Path) -> None:
    config = tmp_path / "socketsvc.toml"
    config.write_text(CONFIG)
    args = ("--config", str(config), "--log-format", "json", "--node-id", "node-7")
    async with cli_node(*args) as node:
        client = socketio.AsyncClient()
        await client.connect(node.url, namespaces=["/test"], wait_timeout=5)
        sid = client.get_sid("/test")
        try:
            reply = await client.call("boom", namespace="/test", timeout=5)
            assert reply["error"]["code"] == "internal"
        finally:
            await client.disconnect()
            await client.shutdown()
        await asyncio.gather(*(send_garbage(node.url) for _ in range(BAD_CLIENTS)))
        await eventually(lambda: node.output.count("invalid packet") >= BAD_CLIENTS)
    records = lines(node.output)
    assert all(r["node"] == "node-7" for r in records)
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    failed = [r for r in records if r["message"].startswith("handler failed")]
    assert len(failed) == 1, records
    assert failed[0]["level"] == "error"
    assert failed[0]["logger"] == "socketsvc.handlers"
    assert (failed[0]["sid"], failed[0]["namespace"], failed[0]["event"]) == (sid, "/test", "boom")
    assert "RuntimeError: secret internals" in failed[0]["exception"]  # inside the one line
    invalid = [r for r in records if "invalid packet" in r["message"]]
    assert len(invalid) == BAD_CLIENTS  # one line per bad client, no tracebacks
    assert all(r["level"] == "warning" and r["eio_sid"] for r in invalid)
    assert len({r["eio_sid"] for r in invalid}) == BAD_CLIENTS
    assert not any("exception" in r for r in invalid)
    assert any(r["message"].startswith("socketsvc listening on") for r in records)


async def test_text_format_is_the_default() -> None:
    async with cli_node() as node:
        pass
    lines = node.output.splitlines()
    assert any(" INFO socketsvc: socketsvc listening on http://" in line for line in lines)
    assert lines and not any(line.startswith("{") for line in lines)
