"""The handler API is typed end to end: mypy (strict, as users run it on their handler modules)
accepts every call of the front door and rejects a misspelt method, a wrong argument type and
python-socketio's ``self.server``, which is not a way in."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.handlers.test_server_events import MYPY_INI

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
from typing import Any
from socketsvc.handlers import BaseNamespace
from socketsvc.security.auth import Identity


class Room(BaseNamespace):
    async def on_enter(self, sid: str, room: str) -> list[str]:
        await self.join(sid, room)
        await self.enter_room(sid, "audit")
        await self.leave(sid, "audit")
        await self.emit("entered", {"room": room}, to=room, skip_sid=sid)
        await self.send("hello", to=sid)
        answer: Any = await self.call("ping", None, to=sid, timeout=1)
        address: str = self.handshake(sid).address
        who: Identity | None = self.identity(sid)
        back: bool = self.recovered(sid) or self.may_come_back(sid, "transport close")
        async with self.session(sid) as session:
            session["room"] = room
        data: Any = await self.get_session(sid)
        await self.save_session(sid, {**data, "seen": True})
        self.start_background_task(self.tick, sid)
        sockets = await self.fetch_sockets(room)
        await self.server_side_emit("entered", room)
        members: list[str] = self.members(room)
        return self.rooms_of(sid) + self.rooms(sid) + members + [s.id for s in sockets]

    async def tick(self, sid: str) -> None:
        await self.disconnect(sid)
        await self.close_room("audit")
"""

BAD = """\
from socketsvc.handlers import BaseNamespace


class Room(BaseNamespace):
    async def on_enter(self, sid: str, room: str) -> None:
        await self.emti("entered", room)  # line 6
        await self.join(sid, 42)  # line 7
        await self.server.emit("entered", room)  # line 8
        self.rooms_of(sid).add(room)  # line 9
"""


async def mypy(tmp_path: Path, source: str) -> str:
    (tmp_path / "handler.py").write_text(source)
    (tmp_path / "mypy.ini").write_text(MYPY_INI)
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--no-incremental"),
        "handler.py",
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    return (await asyncio.wait_for(proc.communicate(), 120))[0].decode()


async def test_every_call_of_the_handler_api_type_checks(tmp_path: Path) -> None:
    out = await mypy(tmp_path, GOOD)
    assert "Success: no issues found" in out, out


async def test_a_wrong_call_is_a_type_error(tmp_path: Path) -> None:
    out = await mypy(tmp_path, BAD)
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert {line.split(":")[1] for line in errors} == {"6", "7", "8", "9"}, out
    assert 'handler.py:6: error: "Room" has no attribute "emti"' in out
    assert 'handler.py:7: error: Argument 2 to "join" of "BaseNamespace" has incompatible' in out
    assert 'handler.py:8: error: "Room" has no attribute "server"' in out
    assert 'handler.py:9: error: "list[str]" has no attribute "add"' in out
