"""Node.js nodes of a mixed cluster for the tests: ``tests/js/node_cluster.mjs`` (two socket.io
4.8 servers on a Redis adapter, one per parser, stock clients, the Redis emitter) in a process
of its own, driven over a
small HTTP control port. One process serves a whole test module (starting Node costs more than
most tests); each test closes its clients at the end.
"""

from __future__ import annotations

import base64
import os
import queue
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

from tests.tools import require_executable, require_path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "js" / "node_cluster.mjs"
ADAPTERS = ROOT / "clients" / "js" / "node_modules" / "@socket.io"


def binary(value: Any) -> Any:
    """``value`` with bytes as the control JSON carries them."""
    if isinstance(value, bytes | bytearray):
        return {"$bin": base64.b64encode(value).decode()}
    if isinstance(value, list | tuple):
        return [binary(v) for v in value]
    if isinstance(value, dict):
        return {k: binary(v) for k, v in value.items()}
    return value


def unbinary(value: Any) -> Any:
    if isinstance(value, list):
        return [unbinary(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return base64.b64decode(value["$bin"])
        return {k: unbinary(v) for k, v in value.items()}
    return value


class NodeFailed(AssertionError):
    """What the Node side answered instead of a result."""


class NodeNode:
    """One Node.js node; ``await node.call(op, **arguments)``."""

    adapter = "classic"  # or "streams"
    key = "socket.io"

    def __init__(self, proc: subprocess.Popen[str], ports: list[int], control: int) -> None:
        self.proc = proc
        # two Node nodes of the cluster: socket.io servers with the JSON and the msgpack parser
        self.urls = {
            "json": f"http://127.0.0.1:{ports[0]}",
            "msgpack": f"http://127.0.0.1:{ports[1]}",
        }
        self.url = self.urls["json"]
        self.control = f"http://127.0.0.1:{control}/"

    async def call(self, op: str, **arguments: Any) -> Any:
        async with aiohttp.ClientSession() as http:
            body = binary({"op": op, **arguments})
            async with http.post(self.control, json=body, timeout=aiohttp.ClientTimeout(20)) as r:
                reply = await r.json()
        if not reply["ok"]:
            raise NodeFailed(f"{op}: {reply['error']}")
        return unbinary(reply["result"])


def start_node(adapter: str, redis_url: str, key: str) -> Iterator[NodeNode]:
    """A generator for a fixture: the Node node, stopped at the end."""
    node = require_executable("node")
    require_path(ADAPTERS / "redis-adapter", "clients/js/node_modules (npm ci in clients/js)")
    env = dict(os.environ, REDIS_URL=redis_url, KEY=key, ADAPTER=adapter)
    proc = subprocess.Popen(
        [node, str(SCRIPT)], stdout=subprocess.PIPE, text=True, env=env, cwd=SCRIPT.parent
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        try:
            line = lines.get(timeout=20)
        except queue.Empty:
            raise RuntimeError("the Node node did not start") from None
        if not line.startswith("READY "):
            raise RuntimeError(f"unexpected output of the Node node: {line!r}")
        _, json_port, msgpack_port, control = line.split()
        yield NodeNode(proc, [int(json_port), int(msgpack_port)], int(control))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
