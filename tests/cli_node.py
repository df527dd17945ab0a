"""A socketsvc node as operators run it: ``python -m socketsvc serve`` in a child process.

The CLI runs on uvloop (the in-process test servers run on the test's plain asyncio loop), so
behaviour that depends on the event loop is checked on both.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class CliNode:
    """A running ``socketsvc serve``; ``log`` collects what it writes to stderr."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str, log: list[str]) -> None:
        self.proc, self.url, self.log = proc, url, log

    @property
    def output(self) -> str:
        return "".join(self.log)


async def _collect(stream: asyncio.StreamReader, log: list[str]) -> None:
    while line := await stream.readline():
        log.append(line.decode(errors="replace"))


async def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    command: Sequence[str] = (sys.executable, "-m", "socketsvc"),
    cwd: Path = ROOT,
) -> tuple[int, str]:
    """Run ``socketsvc *args`` to its end (at most 30 s): its exit status and its output."""
    proc = await asyncio.create_subprocess_exec(
        *command,
        *args,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode()


@contextlib.asynccontextmanager
async def cli_node(
    *args: str,
    env: dict[str, str] | None = None,
    command: Sequence[str] = (sys.executable, "-m", "socketsvc"),
    cwd: Path = ROOT,
) -> AsyncIterator[CliNode]:
    """Start ``socketsvc serve --port 0 *args``, yield it once it listens, stop it (SIGTERM).

    ``command`` runs socketsvc (``python -m socketsvc``, or the console script)."""
    proc = await asyncio.create_subprocess_exec(
        *command,
        "serve",
        "--port",
        "0",
        *args,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    log: list[str] = []
    reader = asyncio.create_task(_collect(proc.stderr, log))
    try:
        url = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while url is None:
            found = re.search(r"listening on (http://\S+)", "".join(log))
            url = found.group(1) if found else None
            if url is None:
                assert proc.returncode is None, "server exited:\n" + "".join(log)
                assert loop.time() < deadline, "server did not listen:\n" + "".join(log)
                await asyncio.sleep(0.05)
        yield CliNode(proc, url, log)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await asyncio.wait_for(reader, 5)
