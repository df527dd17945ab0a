"""socketsvc as an app's dependency, outside this repository: the wheel built from what the
Dockerfile copies, installed into a fresh virtual environment in a temporary folder; an app
folder written by ``socketsvc new`` (its own handler module and app.toml) run from there on
Redis; stock clients on both parsers (python-socketio's, and socket.io-client running the
app's client.mjs); and the publisher-only distribution, in an environment of its own with
only redis and msgpack, publishing to the app's clients.

The wheels are built once per test session and each environment is made once; pip takes
the packages from its cache when it has them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import venv
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import socketio

from tests.conftest import NODE_MODULES, ROOT, Inbox
from tests.deploy.test_compose import docker_copies
from tests.tools import require_path

pytestmark = pytest.mark.timeout(600)
BIN = "Scripts" if sys.platform == "win32" else "bin"


def pip(environment: Path, *args: str) -> str:
    proc = subprocess.run(
        [str(environment / BIN / "python"), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The server's and the emitter's wheels, built from a copy of what the Dockerfile
    copies (and emitter/), never from the working tree's leftovers."""
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
    for source in [*docker_copies((ROOT / "Dockerfile").read_text()), "emitter"]:
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, src / source, ignore=ignore)
        else:
            shutil.copy(ROOT / source, src / source)
    out = tmp_path_factory.mktemp("wheels")
    tool = Path(sys.executable).parent.parent  # this environment's pip builds them
    pip(tool, "wheel", "--no-deps", "--quiet", "-w", str(out), str(src), str(src / "emitter"))
    built = {path.name.split("-")[0]: path for path in out.glob("*.whl")}
    assert set(built) == {"socketsvc", "socketsvc_emitter"}, built
    return built


def environment(where: Path, wheel: Path) -> Path:
    venv.create(where, with_pip=True)
    pip(where, "install", "--quiet", str(wheel))
    return where


@pytest.fixture(scope="session")
def server_env(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]) -> Path:
    return environment(tmp_path_factory.mktemp("server") / "venv", wheels["socketsvc"])


@pytest.fixture(scope="session")
def emitter_env(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]) -> Path:
    return environment(tmp_path_factory.mktemp("emitter") / "venv", wheels["socketsvc_emitter"])


class App:
    """The app's node: ``socketsvc serve --config app.toml`` run in the app's folder."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str, folder: Path) -> None:
        self.proc, self.url, self.folder = proc, url, folder


@pytest.fixture
async def app(
    server_env: Path, tmp_path: Path, redis_url: str, redis_prefix: str
) -> AsyncIterator[App]:
    folder = tmp_path / "auction"
    socketsvc = str(server_env / BIN / "socketsvc")
    new = await asyncio.create_subprocess_exec(socketsvc, "new", str(folder))
    assert await asyncio.wait_for(new.wait(), 60) == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOCKETSVC_", "PYTHON"))}
    env |= {"SOCKETSVC_MANAGER": "redis", "SOCKETSVC_REDIS_URL": redis_url}
    env |= {"SOCKETSVC_REDIS_PREFIX": redis_prefix}
    proc = await asyncio.create_subprocess_exec(
        socketsvc,
        *("serve", "--config", "app.toml", "--port", "0", "--log-level", "info"),
        cwd=folder,  # relative paths are the app's: app.toml, auction.py beside it
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
        assert "namespace /chat" not in log  # its own [namespaces]: /chat is opted out
        yield App(proc, url, folder)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
        assert code == 0


def test_the_installed_package_is_not_this_repository(server_env: Path) -> None:
    where = subprocess.run(
        [str(server_env / BIN / "python"), "-c", "import socketsvc; print(socketsvc.__file__)"],
        cwd=server_env.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert Path(where.strip()).is_relative_to(server_env)


def test_the_publisher_only_install_has_redis_and_msgpack_only(emitter_env: Path) -> None:
    listed = json.loads(pip(emitter_env, "list", "--format", "json"))
    names = {p["name"].lower() for p in listed} - {"pip", "setuptools"}
    assert names == {"socketsvc-emitter", "redis", "msgpack"} | redis_needs(emitter_env)
    check = "import socketsvc.emitter; import socketsvc.cli"
    python = str(emitter_env / BIN / "python")
    proc = subprocess.run([python, "-c", check], cwd=emitter_env, capture_output=True)
    assert b"No module named 'socketsvc.cli'" in proc.stderr  # the server is not there


def redis_needs(environment: Path) -> set[str]:
    """What redis itself requires on this Python (async-timeout on old ones)."""
    shown = pip(environment, "show", "redis")
    requires = re.search(r"^Requires: (.*)$", shown, re.M)
    return {r.strip().lower() for r in (requires.group(1) if requires else "").split(",") if r}


async def client(url: str, serializer: str) -> socketio.AsyncClient:
    sio = socketio.AsyncClient(serializer=serializer)
    await sio.connect(url, namespaces=["/auction"], transports=["websocket"], wait_timeout=5)
    return sio


async def test_the_app_runs_from_its_folder_with_stock_clients_and_a_publisher(
    app: App, emitter_env: Path, redis_url: str, redis_prefix: str
) -> None:
    ns = "/auction"
    ada = await client(app.url, "default")  # socket.io-parser (JSON)
    bob = await client(app.url, "msgpack")  # socket.io-msgpack-parser
    try:
        seen = {name: Inbox(sio, "leading", ns) for name, sio in (("ada", ada), ("bob", bob))}
        assert await ada.call("watch", "A-1", namespace=ns, timeout=5) is None
        assert await bob.call("watch", "A-1", namespace=ns, timeout=5) is None
        leading = await ada.call("bid", {"lot": "A-1", "amount": "12.50"}, namespace=ns, timeout=5)
        assert leading == {"lot": "A-1", "amount": "12.50", "bidder": leading["bidder"]}
        assert (await seen["bob"].get())["amount"] == "12.50"
        reply = await bob.call("bid", {"lot": "A-1", "amount": 12}, namespace=ns, timeout=5)
        assert reply == {"error": {"code": "outbid", "message": "the best bid on A-1 is 12.50"}}
        reply = await bob.call("bid", {"lot": "A-1", "amount": -1}, namespace=ns, timeout=5)
        assert reply["error"] == {
            "code": "invalid_payload",
            "message": "'amount' must be > 0 (got -1)",
        }
        higher = await bob.call("bid", {"lot": "A-1", "amount": 13}, namespace=ns, timeout=5)
        assert higher["amount"] == "13"
        assert (await seen["ada"].get())["amount"] == "13"  # others are told, not the bidder
        assert await ada.call("watch", "A-1", namespace=ns, timeout=5) == higher
        # the publisher-only install, through Redis, to the app's clients on both parsers
        publish = (
            "import asyncio, sys\n"
            "from socketsvc.emitter import Emitter\n"
            "async def main():\n"
            "    async with Emitter(sys.argv[1], prefix=sys.argv[2]) as emitter:\n"
            "        lot = {'lot': 'A-1', 'amount': '99', 'bidder': 'back office'}\n"
            "        sent = emitter.emit('leading', lot, namespace='/auction', to='lot:A-1')\n"
            "        print(await sent)\n"
            "asyncio.run(main())\n"
        )
        proc = await asyncio.create_subprocess_exec(
            str(emitter_env / BIN / "python"),
            *("-c", publish, redis_url, redis_prefix),
            cwd=emitter_env,  # not this repository, whose socketsvc would be found first
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0 and int(out) >= 1  # one node subscribed
        for name in ("ada", "bob"):
            assert (await seen[name].get())["bidder"] == "back office", name
        # /chat is not served beside the app's own namespaces
        with pytest.raises(socketio.exceptions.ConnectionError):
            stray = socketio.AsyncClient()
            try:
                await stray.connect(app.url, namespaces=["/chat"], wait_timeout=5)
            finally:
                await stray.shutdown()
    finally:
        for sio in (ada, bob):
            await sio.disconnect()
            await sio.shutdown()


async def test_the_apps_client_runs_with_the_stock_js_client(app: App, node: str) -> None:
    """``node client.mjs`` in the app's folder (socket.io-client from clients/js's
    node_modules, as the app's own ``npm install socket.io-client`` would provide it)."""
    require_path(NODE_MODULES / "socket.io-client", "npm packages (cd clients/js && npm ci)")
    (app.folder / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    proc = await asyncio.create_subprocess_exec(
        node,
        "client.mjs",
        cwd=app.folder,
        env={**os.environ, "AUCTION_URL": app.url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, text
    assert "watching A-1, best bid so far: none" in text, text
    assert "leading: { lot: 'A-1', amount: '12.50'" in text, text
