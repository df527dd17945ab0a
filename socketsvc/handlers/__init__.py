"""What handler authors import, and the built-in handler modules: the one list the server
registers before configured ones."""

from __future__ import annotations

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
    "Pattern",
    "ServerEvent",
    "ServiceKey",
    "Services",
    "event",
]
