"""The publisher-only distribution (emitter/pyproject.toml): the modules it ships are exactly
what ``import socketsvc.emitter`` loads, and none of them needs the server's dependencies.

tests/app/test_installed_app.py installs its wheel into a virtual environment with only
redis and msgpack, and publishes from there to a running app."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

from tests.conftest import ROOT

SERVER_ONLY = ("aiohttp", "socketio", "engineio", "orjson", "jwt", "prometheus_client", "bcrypt")
SERVER_ONLY += ("annotated_types", "uvloop", "bidict")  # (redis loads cryptography when present)


def loaded_by(statement: str) -> list[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return list(json.loads(out.stdout))


def test_the_emitter_distribution_ships_what_the_emitter_imports() -> None:
    project = tomllib.loads((ROOT / "emitter" / "pyproject.toml").read_text())
    shipped = set(project["tool"]["setuptools"]["py-modules"])
    assert {d.split(">")[0] for d in project["project"]["dependencies"]} == {"redis", "msgpack"}
    modules = loaded_by("import socketsvc.emitter")
    ours = {m for m in modules if m.startswith("socketsvc.")}
    packages = {m for m in ours if (ROOT / m.replace(".", "/") / "__init__.py").exists()}
    assert ours - packages == shipped
    assert not [m for m in modules if m.split(".")[0] in SERVER_ONLY]


def test_the_protocol_package_loads_its_formats_on_first_use() -> None:
    """``socketsvc.protocol``'s names are there as before, imported when first used."""
    assert "socketio" not in loaded_by("import socketsvc.protocol.values")
    modules = loaded_by("from socketsvc.protocol import PacketError, encode_frames")
    assert "socketsvc.protocol.frames" in modules
    from socketsvc import protocol
    from socketsvc.protocol.frames import encode_frames

    assert protocol.encode_frames is encode_frames
    assert sorted(protocol.__all__) == sorted(n for n in protocol.__all__ if hasattr(protocol, n))
