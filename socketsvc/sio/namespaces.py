"""Which handler class serves which namespace: built-ins plus the ``[namespaces]`` table.

Handler modules named in config are imported once, at start-up, and any failure stops start-up
with a message naming the module. Nothing registers itself on import.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass

from socketsvc.config import Settings
from socketsvc.errors import ConfigError
from socketsvc.handlers import BUILTIN_NAMESPACES, BaseNamespace


@dataclass(frozen=True)
class Route:
    """A namespace (or pattern such as ``/team/*``) and the class that serves it."""

    namespace: str
    handler: type[BaseNamespace]

    @property
    def is_pattern(self) -> bool:
        return self.namespace.endswith("*")

    def matches(self, namespace: str) -> bool:
        """A ``*`` stands for exactly one path segment."""
        prefix = self.namespace[:-1]
        rest = namespace[len(prefix) :]
        return (
            namespace.startswith(prefix) and bool(rest) and re.fullmatch(r"[^/]+", rest) is not None
        )


def import_handler(namespace: str, target: str) -> type[BaseNamespace]:
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(
            f"namespaces.{namespace}: cannot import module '{module_name}': "
            f"{type(exc).__name__}: {exc}"
        ) from None
    handler = getattr(module, class_name, None)
    if handler is None:
        raise ConfigError(f"namespaces.{namespace}: module '{module_name}' has no '{class_name}'")
    if not (isinstance(handler, type) and issubclass(handler, BaseNamespace)):
        raise ConfigError(
            f"namespaces.{namespace}: '{target}' is not a socketsvc.handlers.BaseNamespace subclass"
        )
    return handler


def load_routes(settings: Settings) -> list[Route]:
    """Built-ins first, then configured modules (which may replace a built-in)."""
    table: dict[str, type[BaseNamespace]] = dict(BUILTIN_NAMESPACES)
    for namespace, target in settings.namespaces.items():
        table[namespace] = import_handler(namespace, target)
    return [Route(ns, handler) for ns, handler in table.items()]
