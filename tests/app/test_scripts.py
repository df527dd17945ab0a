"""The README's two commands: what its first code block says, and ``bash scripts/serve``
setting up a virtual environment of its own and starting the server."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.tools import checked_in_another_run

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```\w*\n(.*?)```", readme, re.S)
    assert first_block is not None
    lines = [line for line in first_block.group(1).splitlines() if line.strip()]
    assert lines == ["bash scripts/serve", "bash scripts/test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "exec bash scripts/test" in ci


def _python_serve_picks() -> tuple[str, str]:
    """The interpreter scripts/serve would set up its environment with, and its version."""
    found = subprocess.run(
        ["bash", "-c", "source scripts/lib.sh && find_any_python"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    version = subprocess.run(
        [found, "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return found, version


async def test_scripts_serve_sets_up_its_own_environment_and_serves(tmp_path: Path) -> None:
    picked, version = _python_serve_picks()
    if version != str(sys.version_info[:2]):
        checked_in_another_run(f"scripts/serve uses {picked}; checked in the run on that Python")
    venv = tmp_path / "venv"
    env = {**os.environ, "SOCKETSVC_VENV": str(venv)}
    env.pop("VIRTUAL_ENV", None)
    for attempt in ("fresh", "again"):
        proc = await asyncio.create_subprocess_exec(
            "bash",
            "scripts/serve",
            "--port",
            "0",
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        log = ""
        try:
            url = None
            while url is None:
                line = (await asyncio.wait_for(proc.stderr.readline(), 300)).decode()
                assert line, f"scripts/serve exited ({attempt}):\n{log}"
                log += line
                found = re.search(r"listening on (http://\S+)", line)
                url = found.group(1) if found else None
            async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz") as reply:
                assert reply.status == 200
                assert (await reply.json())["status"] == "ok"
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 30)
        assert code == 0, log
        assert ("setting up" in log) == (attempt == "fresh"), log
        assert (venv / "bin" / "socketsvc").exists()
