"""clients/js as a package an app installs: the tarball ``npm pack`` makes, installed into an
empty npm project (no TypeScript, no build step there), typed by the contract ``socketsvc
contract`` writes for the app of ``socketsvc new`` (``tsc --strict`` compiles a correct
client and rejects wrong payloads and events), and run as plain JavaScript against a server
with that app: requests as promises with error codes on both parsers, and a watched lot
watched again after the connection dropped. The folder itself installs too
(``--install-links``), from its built dist/, and a folder without it says what to do.

npm takes socket.io-client from its cache (filled by ``npm ci`` in clients/js) when it can.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import NODE_MODULES, ROOT, StartServer
from tests.tools import require_executable, require_path

pytestmark = pytest.mark.timeout(300)
CLIENT = ROOT / "clients" / "js"
APP = Path(__file__).parent / "js_app"  # the app's own files
TEMPLATE = ROOT / "socketsvc" / "templates" / "app"  # what `socketsvc new` writes
NPM_INSTALL = ("install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error")


def run(*args: str, cwd: Path) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"{' '.join(args)}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def empty_project(where: Path) -> Path:
    where.mkdir()
    manifest = {"name": "auction-app", "private": True, "type": "module"}
    (where / "package.json").write_text(json.dumps(manifest))
    return where


@pytest.fixture(scope="module")
def npm() -> str:
    require_path(NODE_MODULES / "typescript", "clients/js/node_modules (npm ci in clients/js)")
    return require_executable("npm")


@pytest.fixture(scope="module")
def installed(npm: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty npm project with the packed tarball installed, the app's files beside it."""
    packed = tmp_path_factory.mktemp("packed")
    name = run(npm, "pack", "--pack-destination", str(packed), cwd=CLIENT).strip().splitlines()[-1]
    project = empty_project(tmp_path_factory.mktemp("app") / "auction")
    run(npm, *NPM_INSTALL, str(packed / name), cwd=project)
    for source in APP.iterdir():
        shutil.copy(source, project / source.name)
    return project


def test_the_tarball_installs_without_build_tools_and_types_an_app_from_its_contract(
    installed: Path,
) -> None:
    modules = installed / "node_modules"
    manifest = json.loads((installed / "package.json").read_text())
    assert set(manifest["dependencies"]) == {"@socketsvc/client"}
    assert (modules / "@socketsvc" / "client" / "dist" / "index.d.ts").is_file()
    assert not (modules / "typescript").exists() and not (modules / ".bin" / "tsc").exists()
    app = installed.parent / "server"
    run(sys.executable, "-m", "socketsvc", "new", str(app), cwd=installed)
    contract = installed / "contract.ts"
    run(sys.executable, "-m", "socketsvc", "contract", "--config", "app.toml", "--format",
        "typescript", "--output", str(contract), cwd=app)  # fmt: skip
    assert "export interface AuctionClientToServerEvents" in contract.read_text()
    tsc = NODE_MODULES / ".bin" / "tsc"  # this repository's, never the app's
    proc = subprocess.run([str(tsc), "-p", "tsconfig.json"], cwd=installed, capture_output=True)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    (installed / "app.ts").write_text((installed / "app.ts").read_text().replace("@ts-expect", ""))
    proc = subprocess.run([str(tsc), "-p", "tsconfig.json"], cwd=installed, capture_output=True)
    errors = [line for line in proc.stdout.decode().splitlines() if "error TS" in line]
    assert len(errors) == 5, "\n".join(errors)  # each expected error is one


async def test_the_installed_client_bids_with_error_codes_and_watches_again_after_a_drop(
    installed: Path, start_server: StartServer, node: str
) -> None:
    server = await start_server(
        chat=False,
        namespaces={"/auction": "auction:AuctionNamespace"},
        handler_path=(str(TEMPLATE),),
    )
    proc = await asyncio.create_subprocess_exec(
        *(node, "client.mjs", str(server.make_url("/"))),
        cwd=installed,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode() + err.decode()
    steps: dict[str, Any] = {}
    for line in out.decode().splitlines():
        step = json.loads(line)
        steps[step["step"]] = step.get("value")
    assert steps == {
        "watch": None,  # no bid yet
        "bid": "12.50",
        "outbid": "outbid: the best bid on A-1 is 12.50",
        "invalid": "invalid_payload: 'amount' must be > 0 (got -1)",
        "unknown": "unknown_event: no event 'buy' in namespace /auction",
        "rejoined": {"key": 'watch ["A-1"]', "event": "watch", "args": ["A-1"], "best": "12.50"},
        "leading after the reconnect": "20",
        "forgotten": 0,
        "closed": "closed: the client was closed",
    }


def test_the_folder_installs_from_its_built_dist(npm: str, tmp_path: Path) -> None:
    """What a clone gives after ``npm ci`` in clients/js, without its node_modules."""
    folder = tmp_path / "js"
    folder.mkdir()
    for name in ("package.json", "README.md", "src", "dist", "scripts"):
        copy = shutil.copytree if (CLIENT / name).is_dir() else shutil.copy
        copy(CLIENT / name, folder / name)
    project = empty_project(tmp_path / "app")
    run(npm, *NPM_INSTALL, "--install-links", str(folder), cwd=project)
    names = "import('@socketsvc/client').then((m) => console.log(Object.keys(m).sort().join()))"
    exported = run("node", "-e", names, cwd=project).strip().split(",")
    assert {"NamespaceClient", "ChatClient", "SocketsvcError", "connect"} <= set(exported)
    shutil.rmtree(folder / "dist")
    bare = empty_project(tmp_path / "bare")
    proc = subprocess.run(
        [npm, *NPM_INSTALL, "--install-links", str(folder)], cwd=bare, capture_output=True
    )
    assert proc.returncode != 0
    assert b"dist/ is not built. Run `npm ci` in clients/js first" in proc.stderr
