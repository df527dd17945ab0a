"""The Socket.IO Admin UI, served by a node with ``admin_ui = true``, in headless Chromium.

``admin_ui.mjs`` connects two stock clients to ``/chat`` (rooms ``lobby`` and ``ops``), opens
``/admin/``, is refused with a wrong password, logs in, and finds both clients, their rooms and
one client's details. Screenshots: ``tests/artifacts/admin-ui-{sockets,rooms,socket}.png``.
Needs the same tools as test_chat_page.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import bcrypt
import pytest

from tests.e2e.test_chat_page import ARTIFACTS, ROOT, Server, tools  # noqa: F401 - fixture

SCRIPT = Path(__file__).with_name("admin_ui.mjs")
PASSWORD = "correct horse battery staple"


@pytest.mark.timeout(120)
def test_admin_ui_logs_in_and_shows_two_clients_and_their_rooms(
    tools: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    flags = ("--admin-ui", "--admin-password-hash", hashed)
    server = Server(tmp_path / "socketsvc.log", None, *flags)
    server.start()
    try:
        proc = subprocess.run(
            [tools, str(SCRIPT), server.url, PASSWORD, str(ARTIFACTS)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=100,
        )
    finally:
        server.stop()
    assert proc.returncode == 0, (
        f"admin_ui.mjs failed:\n{proc.stdout}\n{proc.stderr}\n--- server log ---\n{server.log()}"
    )
    assert (ARTIFACTS / "admin-ui-sockets.png").stat().st_size > 0
