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
    # The second start runs from an app's own folder, whose paths are relative to it.
    app = tmp_path / "app"
    app.mkdir()
    (app / "app.toml").write_text('[namespaces]\n"/mine" = "mine:Mine"\n')
    (app / "mine.py").write_text(
        "from socketsvc.handlers import BaseNamespace\nclass Mine(BaseNamespace): pass\n"
    )
    for attempt in ("fresh", "again"):
        where = ["--config", "app.toml"] if attempt == "again" else []
        proc = await asyncio.create_subprocess_exec(
            "bash",
            str(ROOT / "scripts" / "serve"),
            "--port",
            "0",
            *where,
            cwd=ROOT if attempt == "fresh" else app,
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
        assert ("namespace /mine: mine:Mine" in log) == (attempt == "again"), log
        assert (venv / "bin" / "socketsvc").exists()


def test_the_readme_shows_your_own_app_in_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Your own app", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    assert block.group(1).splitlines() == [
        "bash path/to/socketsvc/scripts/new .",
        ".venv/bin/socketsvc serve --config app.toml",
    ]


async def test_scripts_new_installs_socketsvc_into_an_app_folder_that_then_serves(
    tmp_path: Path,
) -> None:
    """The two commands of "Your own app", from an empty folder outside the clone."""
    picked, version = _python_serve_picks()
    if version != str(sys.version_info[:2]):
        checked_in_another_run(f"scripts/new uses {picked}; checked in the run on that Python")
    app = tmp_path / "auction"
    app.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    new = await asyncio.create_subprocess_exec(
        "bash",
        str(ROOT / "scripts" / "new"),
        ".",
        cwd=app,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(new.communicate(), 300)
    assert new.returncode == 0, out.decode()
    assert (app / "auction.py").exists() and (app / "app.toml").exists()
    proc = await asyncio.create_subprocess_exec(
        ".venv/bin/socketsvc",
        "serve",
        "--config",
        "app.toml",
        "--port",
        "0",
        cwd=app,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    log = ""
    try:
        url = None
        while url is None:
            line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
            assert line, f"the app exited:\n{log}"
            log += line
            found = re.search(r"listening on (http://\S+)", line)
            url = found.group(1) if found else None
        assert "namespace /auction: auction:AuctionNamespace" in log
        async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz") as reply:
            assert reply.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
