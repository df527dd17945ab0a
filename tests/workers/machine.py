"""A machine of ``socketsvc serve --workers N``, as operators run it, for the tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from tests.cli_node import CliNode, cli_node

CONFIG = """\
chat = true

[namespaces]
"/machine" = "tests.workers.handlers:MachineNamespace"
"""


@dataclass
class Machine:
    node: CliNode

    @property
    def url(self) -> str:
        return self.node.url

    @property
    def pid(self) -> int:
        return self.node.proc.pid

    def worker_pids(self) -> list[int]:
        """The primary's children: its workers."""
        with open(f"/proc/{self.pid}/task/{self.pid}/children") as children:
            return sorted(int(pid) for pid in children.read().split())


@contextlib.asynccontextmanager
async def machine(tmp_path: Path, *args: str, workers: int = 2) -> AsyncIterator[Machine]:
    """``socketsvc serve --workers 2`` on a free port with the /machine namespace, stopped
    with SIGTERM at the end."""
    config = tmp_path / "machine.toml"
    config.write_text(CONFIG)
    flags = ("--workers", str(workers), "--config", str(config), "--shutdown-grace", "2")
    async with cli_node(*flags, *args) as node:
        yield Machine(node)
