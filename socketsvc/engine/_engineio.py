"""python-engineio: the only module of socketsvc that touches its private names.

python-socketio builds its Engine.IO server from a python-engineio ``AsyncServer`` subclass, so
socketsvc's :class:`~socketsvc.engine.server.EngineServer` is one. It replaces the request
handling and the sessions, and still uses a few helpers that python-engineio keeps private.
:class:`EngineIOServer` gives each of them a public name here, in one place; nothing else in
socketsvc calls or overrides a python-engineio name that starts with ``_``.
tests/engine/test_engineio_fence.py pins the signature of every one.
"""

from __future__ import annotations

from typing import Any

import engineio

from socketsvc.dependencies import require

VERSION = require("python-engineio", (4, 15), (4, 16))


class EngineIOServer(engineio.AsyncServer):  # type: ignore[misc]
    """python-engineio's ``AsyncServer`` with its private helpers under public names."""

    # -- python-engineio calls these on its own: they lead to socketsvc's sessions ----------

    def _get_socket(self, sid: str) -> Any:
        return self.live_session(sid)

    def live_session(self, sid: str) -> Any:  # pragma: no cover - EngineServer overrides it
        raise NotImplementedError

    # -- socketsvc calls these: python-engineio's implementations ----------------------------

    def log_once(self, message: str, key: str) -> None:
        """Log an error the first time ``key`` is seen, then only at debug level."""
        self._log_error_once(message, key)

    async def make_response(self, response: dict[str, Any], environ: Any) -> Any:
        """The aiohttp response for ``{status, headers, response}``, CORS headers added."""
        return await self._make_response(response, environ)

    def ok_response(self) -> dict[str, Any]:
        return self._ok()  # type: ignore[no-any-return]

    def bad_request_response(self, message: str) -> dict[str, Any]:
        return self._bad_request(message)  # type: ignore[no-any-return]

    def unauthorized_response(self, message: Any = None) -> dict[str, Any]:
        return self._unauthorized(message)  # type: ignore[no-any-return]

    def allowed_origins(self, environ: Any) -> list[str] | None:
        return self._cors_allowed_origins(environ)  # type: ignore[no-any-return]

    def upgrades_for(self, sid: str, transport: str) -> list[str]:
        return self._upgrades(sid, transport)  # type: ignore[no-any-return]

    def sid_cookie(self, sid: str, attributes: dict[str, Any]) -> str:
        return self._generate_sid_cookie(sid, attributes)  # type: ignore[no-any-return]

    def compress(self, encoding: str, body: bytes) -> bytes:
        """``body`` compressed with one of ``compression_methods`` (gzip, deflate)."""
        method = {"gzip": self._gzip, "deflate": self._deflate}[encoding]
        return method(body)  # type: ignore[no-any-return]
