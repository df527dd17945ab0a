"""Helpers for the contract tests: ``socketsvc contract`` run as operators run it, and
TypeScript projects compiled with the real ``tsc`` against the npm socket.io-client."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import jwt
import pytest

from tests.conftest import NODE_MODULES
from tests.tools import require_path

HERE = Path(__file__).resolve().parent
SECRET = "contract-tests-secret-0123456789abcdef"  # >= 32 bytes (HS256)
AUCTION_TOML = f"""\
jwt_secret = "{SECRET}"
chat = true

[namespaces]
"/auction" = "tests.contract.auction:AuctionNamespace"

[namespace_auth]
"/auction" = "required"
"""
TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "target": "es2022",
        "lib": ["es2022", "dom"],
        "module": "nodenext",
        "moduleResolution": "nodenext",
        "exactOptionalPropertyTypes": True,
        "noUncheckedIndexedAccess": True,
        "skipLibCheck": True,
        "types": [],
        "outDir": "out",
    },
}


def clean_env() -> dict[str, str]:
    """The environment without SOCKETSVC_* settings: the contract of the file alone."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SOCKETSVC_")}


async def contract_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """``python -m socketsvc contract *args``: exit status and output (stdout + stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "socketsvc",
        "contract",
        *args,
        cwd=HERE.parents[1],
        env=env if env is not None else clean_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode() + err.decode()


def token(sub: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "name": sub, "iat": now, "exp": now + 300}, SECRET, "HS256")


@pytest.fixture
def auction_config(tmp_path: Path) -> Path:
    path = tmp_path / "auction.toml"
    path.write_text(AUCTION_TOML)
    return path


@pytest.fixture
def node_modules() -> Path:
    return require_path(NODE_MODULES, "clients/js/node_modules (npm ci in clients/js)")


def ts_project(directory: Path, node_modules: Path, files: dict[str, str]) -> Path:
    """A TypeScript project (ES modules, strict) in ``directory`` that imports the npm
    packages of clients/js."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "node_modules").symlink_to(node_modules, target_is_directory=True)
    (directory / "package.json").write_text('{"type": "module"}\n')
    config = dict(TSCONFIG, files=sorted(name for name in files if name.endswith(".ts")))
    (directory / "tsconfig.json").write_text(json.dumps(config, indent=2))
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


async def tsc(project: Path, *args: str, config: str = "tsconfig.json") -> tuple[int, str]:
    """The real TypeScript compiler on ``project``, with ``--strict`` said out loud."""
    proc = await asyncio.create_subprocess_exec(
        str(project / "node_modules" / ".bin" / "tsc"),
        "-p",
        str(project / config),
        "--strict",
        "--pretty",
        "false",
        *args,
        cwd=project,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode()


def errors(output: str) -> list[str]:
    """tsc's diagnostics, one per line: ``file(line,col): error TSnnnn: message``."""
    return [line for line in output.splitlines() if ": error TS" in line]
