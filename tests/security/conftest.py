"""Helpers for the security tests: signed tokens, and a stock JS client run as a subprocess."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt
import pytest

HERE = Path(__file__).resolve().parent
SECRET = "s3cret-for-tests-only-0123456789abcdef"  # >= 32 bytes (HS256)
AUDIENCE = "socketsvc-tests"
ISSUER = "https://issuer.test"

AUTH_SETTINGS: dict[str, Any] = {
    "jwt_secret": SECRET,
    "jwt_audience": AUDIENCE,
    "jwt_issuer": ISSUER,
    "jwt_leeway": 1.0,
    "namespace_auth": {"/chat": "required", "/test": "optional"},
}


def token(key: Any = SECRET, algorithm: str = "HS256", headers: Any = None, **claims: Any) -> str:
    """A token valid for the test settings unless ``claims`` override (None removes a claim)."""
    now = int(time.time())
    body: dict[str, Any] = {
        "sub": "u-1",
        "name": "Alice",
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": now,
        "exp": now + 300,
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm=algorithm, headers=headers)


RunNode = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def run_node(node: str) -> RunNode:
    """Run ``sio_client.mjs`` (stock socket.io-client) and return its JSON report."""

    async def run(url: str, **options: Any) -> dict[str, Any]:
        options["url"] = url.rstrip("/")
        proc = await asyncio.create_subprocess_exec(
            node,
            str(HERE / "sio_client.mjs"),
            json.dumps(options),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(proc.communicate(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        assert proc.returncode == 0, stderr.decode()
        result: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
        return result

    return run


# -- token_client.mjs: stock clients following scripts, once per wire format and transport ----
COMBINATIONS = [
    (parser, transports)
    for parser in ("json", "msgpack")
    for transports in (["websocket"], ["polling"])
]
Sockets = list[dict[str, Any]]


async def run_sockets(
    node: str,
    url: str,
    sockets: Sockets | Callable[[int], Sockets],
    when_connected: Callable[[int], Awaitable[None]] | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Run ``token_client.mjs`` with these sockets (or ``sockets(i)`` for the i-th run) once
    per parser and transport of COMBINATIONS, all at once; returns the reports in that order.
    ``when_connected(i)`` runs once the i-th run's sockets are all connected."""

    async def one(i: int, parser: str, transports: list[str]) -> dict[str, Any]:
        spec: dict[str, Any] = {"url": url.rstrip("/"), "parser": parser}
        spec["transports"] = transports
        spec.update(options, sockets=sockets(i) if callable(sockets) else sockets)
        spec["announce"] = when_connected is not None
        proc = await asyncio.create_subprocess_exec(
            node,
            str(HERE / "token_client.mjs"),
            json.dumps(spec),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        try:
            async with asyncio.timeout(40):
                if when_connected is not None:
                    line = await proc.stdout.readline()
                    assert json.loads(line) == {"connected": True}, line
                    await when_connected(i)
                stdout, stderr = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        assert proc.returncode == 0, stderr.decode()
        result: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
        assert result["status"] == "done", (parser, transports, result)
        return dict(result["report"])

    return await asyncio.gather(*(one(i, p, t) for i, (p, t) in enumerate(COMBINATIONS)))
