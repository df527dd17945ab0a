"""The chat page at ``/`` in headless Chromium, against a real ``python -m socketsvc serve``.

Each test starts a socketsvc node as a subprocess on a free 127.0.0.1 port and runs
``chat_page.mjs`` (playwright-core driving Debian's ``/usr/bin/chromium``; no browser download).
The script asks for server stops and starts over stdout/stdin. Screenshots land in
``tests/artifacts/``.

Needs ``node``, ``clients/js/node_modules`` (``npm ci``) and ``chromium``
(``apt-get install -y chromium``). Without them these tests skip, unless ``CI`` is set: then
they fail.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import pytest

from tests.tools import require_executable, require_path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("chat_page.mjs")
ARTIFACTS = ROOT / "tests" / "artifacts"
PLAYWRIGHT = ROOT / "clients" / "js" / "node_modules" / "playwright-core"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCRIPT_TIMEOUT = 90.0


@pytest.fixture(scope="module")
def tools() -> str:
    """The node executable, once chromium and playwright-core are known to be there."""
    node = require_executable("node")
    require_path(PLAYWRIGHT, "clients/js/node_modules/playwright-core (npm ci in clients/js)")
    require_executable(CHROMIUM, hint="apt-get install -y chromium")
    return node


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """One ``python -m socketsvc serve`` subprocess that can be stopped and started again."""

    def __init__(self, log_path: Path, serializer: str | None, *extra: str) -> None:
        self.port = free_port()
        self.extra = extra  # more command-line flags
        self.url = f"http://127.0.0.1:{self.port}"
        self.serializer = serializer
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [sys.executable, "-m", "socketsvc", "serve", "--host", "127.0.0.1"]
        args += ["--port", str(self.port), "--log-level", "warning", "--shutdown-grace", "1"]
        if self.serializer is not None:
            args += ["--serializer", self.serializer]
        args += self.extra
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"socketsvc exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                exc.close()
                time.sleep(0.05)
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"socketsvc did not answer /healthz:\n{self.log()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


StartServer = Callable[[str | None], Server]


@pytest.fixture
def start_node_server(tmp_path: Path) -> Iterator[StartServer]:
    servers: list[Server] = []

    def start(serializer: str | None) -> Server:
        server = Server(tmp_path / f"socketsvc-{len(servers)}.log", serializer)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


def run_scenario(node: str, scenario: str, server: Server) -> None:
    """Run one scenario of chat_page.mjs, answering its server stop/start requests."""
    proc = subprocess.Popen(
        [node, str(SCRIPT), scenario, server.url, str(ARTIFACTS)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + SCRIPT_TIMEOUT
    try:
        for line in proc.stdout:
            output.append(line)
            command = line.strip()
            if command in ("@@stop", "@@start"):
                try:
                    server.stop() if command == "@@stop" else server.start()
                    reply = "ok"
                except AssertionError as exc:
                    reply = f"failed: {exc}".replace("\n", " ")
                proc.stdin.write(reply + "\n")
                proc.stdin.flush()
            if time.monotonic() > deadline:
                proc.kill()
                break
        status = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        proc.stdout.close()
    assert status == 0, (
        f"chat_page.mjs {scenario} failed ({status}):\n{''.join(output)}\n"
        f"--- server log ---\n{server.log()}"
    )


@pytest.mark.timeout(120)
@pytest.mark.parametrize("serializer", ["json", "msgpack"])
def test_two_pages_chat_in_one_room(
    tools: str, start_node_server: StartServer, serializer: str
) -> None:
    """Join notices, members, messages both ways, typing, no XSS, leave, an error shown."""
    run_scenario(tools, f"two-pages-{serializer}", start_node_server(serializer))


@pytest.mark.timeout(120)
def test_msgpack_and_json_pages_share_a_room(tools: str, start_node_server: StartServer) -> None:
    """One page on msgpack, one on JSON, same server with its default settings."""
    run_scenario(tools, "mixed-formats", start_node_server(None))


@pytest.mark.timeout(120)
def test_server_restart_shows_reconnecting_then_rejoins(
    tools: str, start_node_server: StartServer
) -> None:
    """Stopping the server shows 'reconnecting'; after a restart on the same port the pages
    show 'connected', are back in their room and chat again."""
    run_scenario(tools, "reconnect", start_node_server("json"))


@pytest.mark.timeout(120)
def test_an_expired_session_is_shown_plainly_and_a_refreshed_one_carries_on(
    tools: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tokens in the URL fragment: the page whose site puts a fresh one there before it expires
    stays connected past the first token's expiry; the other shows "session expired"."""
    secret = "s3cret-for-the-page-tests-0123456789"
    exp = int(time.time()) + 10  # the notice (3 s before) comes once both pages are in
    tokens = {
        "ann": jwt.encode({"sub": "ann", "name": "Ann", "exp": exp}, secret),
        "bob": jwt.encode({"sub": "bob", "name": "Bob", "exp": exp}, secret),
        "annLater": jwt.encode({"sub": "ann", "name": "Ann", "exp": exp + 300}, secret),
        "exp": exp,
        "leeway": 1,
    }
    flags = ["--auth", "required", "--jwt-secret", secret, "--jwt-leeway", "1"]
    server = Server(tmp_path / "socketsvc.log", None, *flags, "--token-refresh-notice", "3")
    server.start()
    monkeypatch.setenv("E2E_TOKENS", json.dumps(tokens))
    try:
        run_scenario(tools, "session", server)
    finally:
        server.stop()
