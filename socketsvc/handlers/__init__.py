"""The built-in handler modules: the one list the server registers before configured ones."""

from __future__ import annotations

from socketsvc.handlers.base import BaseNamespace, event
from socketsvc.handlers.chat import ChatNamespace

BUILTIN_NAMESPACES: dict[str, type[BaseNamespace]] = {
    "/chat": ChatNamespace,
}

__all__ = ["BUILTIN_NAMESPACES", "BaseNamespace", "ChatNamespace", "event"]
