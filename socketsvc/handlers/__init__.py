"""What handler authors import, and the built-in handler modules: the one list the server
registers before configured ones."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from socketsvc.handlers.base import BaseNamespace, event
from socketsvc.handlers.chat import ChatNamespace
from socketsvc.handlers.checks import HandlerError
from socketsvc.handlers.events import ServerEvent
from socketsvc.handlers.routes import BUILTIN_NAMESPACES
from socketsvc.handlers.schema import Length, Pattern
from socketsvc.handlers.services import ServiceKey, Services
from socketsvc.sio.handshake import Handshake

__all__ = [
    "BUILTIN_NAMESPACES",
    "BaseNamespace",
    "ChatNamespace",
    "HandlerError",
    "Handshake",
    "Length",
    "NodeRedis",
    "Pattern",
    "ServerEvent",
    "ServiceKey",
    "Services",
    "event",
]

if TYPE_CHECKING:
    from socketsvc.scaleout.node_redis import NodeRedis


def __getattr__(name: str) -> Any:
    """``NodeRedis`` (the type of ``services.redis``) on first use: it imports the Redis client,
    which a node without Redis never loads."""
    if name == "NodeRedis":
        from socketsvc.scaleout.node_redis import NodeRedis

        return NodeRedis
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
