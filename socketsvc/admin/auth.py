"""Who may use the Admin UI: one configured user with a bcrypt password hash, as the Admin UI's
own Node server (``@socket.io/admin-ui`` ``auth: {type: "basic"}``) checks it.

The UI sends ``{username, password}`` in its connect payload; a success answers a session id
(the ``session`` event) that the UI sends instead on its next visit, so the password is not
kept in the browser. Sessions live in this node's memory for :data:`SESSION_SECONDS`.

bcrypt is slow on purpose (a quarter of a second at cost 12): checks run in a worker thread,
at most :data:`PARALLEL_CHECKS` at once, so a flood of login attempts neither blocks the event
loop nor takes more than that many threads.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from typing import Any

import bcrypt

SESSION_SECONDS = 24 * 3600
MAX_SESSIONS = 1000  # the oldest are forgotten first
PARALLEL_CHECKS = 2


class AdminAuth:
    """Checks Admin UI credentials and remembers the sessions it granted."""

    def __init__(self, username: str, password_hash: str) -> None:
        self.username = username.encode()
        self.password_hash = password_hash.encode()
        self._sessions: dict[str, float] = {}  # session id -> expiry (monotonic)
        self._checks: asyncio.Semaphore | None = None

    async def check(self, auth: Any) -> tuple[bool, str | None]:
        """``(accepted, new session id)``: a known session id is accepted without a new one;
        a user and password are checked against the hash."""
        if not isinstance(auth, dict):
            return False, None
        session = auth.get("sessionId")
        if isinstance(session, str) and self._valid(session):
            return True, None
        username, password = auth.get("username"), auth.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            return False, None
        same_user = hmac.compare_digest(username.encode(), self.username)
        if not await self._password_matches(password.encode()) or not same_user:
            return False, None
        return True, self._new_session()

    async def _password_matches(self, password: bytes) -> bool:
        if self._checks is None:
            self._checks = asyncio.Semaphore(PARALLEL_CHECKS)
        async with self._checks:
            matches: bool = await asyncio.to_thread(
                bcrypt.checkpw, password[:72], self.password_hash
            )
            return matches

    def _valid(self, session: str) -> bool:
        expiry = self._sessions.get(session)
        if expiry is None:
            return False
        if expiry < time.monotonic():
            del self._sessions[session]
            return False
        return True

    def _new_session(self) -> str:
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        session = secrets.token_hex(16)
        self._sessions[session] = time.monotonic() + SESSION_SECONDS
        return session
