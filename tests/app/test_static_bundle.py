"""The committed browser bundle is exactly what ``npm run build:browser`` makes from clients/js/src.

``socketsvc/static/vendor/socketsvc.js`` is committed so that ``pip install`` ships it without Node.
This test rebuilds it into a temporary file and compares bytes, so it can never go stale: after
changing clients/js/src (or its dependencies), run ``npm run build:browser`` in clients/js and
commit the result.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.tools import require_executable, require_path

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "js"
BUNDLE = ROOT / "socketsvc" / "static" / "vendor" / "socketsvc.js"


def require_npm() -> str:
    npm = require_executable("npm")
    require_path(CLIENT / "node_modules", "clients/js/node_modules (npm ci in clients/js)")
    return npm


@pytest.mark.timeout(120)
def test_committed_browser_bundle_is_up_to_date(tmp_path: Path) -> None:
    npm = require_npm()
    rebuilt = tmp_path / "socketsvc.js"
    proc = subprocess.run(
        [npm, "run", "--silent", "build:browser", "--", f"--outfile={rebuilt}"],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0, f"npm run build:browser failed:\n{proc.stdout}\n{proc.stderr}"
    assert BUNDLE.is_file(), f"{BUNDLE.relative_to(ROOT)} is not committed"
    assert rebuilt.read_bytes() == BUNDLE.read_bytes(), (
        f"{BUNDLE.relative_to(ROOT)} is stale: run `npm run build:browser` in clients/js "
        "and commit the result"
    )


def test_bundle_is_served_and_shipped() -> None:
    """The page imports the bundle by this path, and package data covers static/vendor."""
    page = (ROOT / "socketsvc" / "static" / "chat.js").read_text(encoding="utf-8")
    assert '"/static/vendor/socketsvc.js"' in page
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"static/vendor/*"' in pyproject


ADMIN_UI = ROOT / "socketsvc" / "static" / "admin"


@pytest.mark.timeout(60)
def test_committed_admin_ui_is_the_npm_packages(tmp_path: Path) -> None:
    """``socketsvc/static/admin`` is ``@socket.io/admin-ui``'s ui/dist as pinned in
    clients/js/package.json (source maps left out) plus its licence: after changing the pin,
    run ``npm run build:admin-ui`` in clients/js and commit the result."""
    npm = require_npm()
    copy = tmp_path / "admin"
    proc = subprocess.run(
        [npm, "run", "--silent", "build:admin-ui", "--", str(copy)],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    expected, committed = files(copy), files(ADMIN_UI)
    assert "LICENSE" in expected and "index.html" in expected
    assert sorted(committed) == sorted(expected), "run `npm run build:admin-ui` in clients/js"
    stale = [name for name in expected if committed[name] != expected[name]]
    assert not stale, f"stale: {stale}; run `npm run build:admin-ui` in clients/js"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"static/admin/*"' in pyproject and '"static/admin/*/*"' in pyproject
