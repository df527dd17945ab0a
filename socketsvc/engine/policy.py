"""What the application decides at the transport level, handed to the Engine.IO server when it
is built. Every part is optional: without it the server behaves as stock python-engineio."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web


class ConnectionCounter(Protocol):
    """Open sessions per client address: ``acquire`` False refuses a handshake (429); every
    successful ``acquire`` is matched by exactly one ``release``."""

    async def acquire(self, address: str) -> bool: ...

    async def release(self, address: str) -> None: ...


@dataclass(frozen=True)
class EnginePolicy:
    """Transport-level rules of one node (see docs/security.md)."""

    # Whether a request's Origin may open or use a session (403 otherwise); None: python-engineio's
    # cors_allowed_origins check.
    allows_origin: Callable[[web.BaseRequest], bool] | None = None
    # The client's address (the peer, or what trusted proxies say), for ``connections``.
    client_address: Callable[[web.BaseRequest], str] = lambda request: request.remote or ""
    connections: ConnectionCounter | None = None
    # Outgoing bytes one session may have queued: volatile messages are dropped past a quarter
    # of it and the session is closed past all of it; 0 = unbounded.
    max_buffer_bytes: int = 0
    # Seconds a polling POST may take to deliver its body once its headers are in: 408 and the
    # session closed past it (engine.io's httpRequestBodyTimeout); 0 = unbounded.
    body_timeout: float = 0.0
    # Put before every session id this server hands out: with several worker processes on one
    # port, it names the worker that owns the session, so that requests are routed to it.
    sid_prefix: str = ""
