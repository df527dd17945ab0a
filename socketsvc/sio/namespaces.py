"""Which handler serves which namespace: built-ins plus the ``[namespaces]`` table, and the
instances of pattern namespaces (``/team/*``).

Handler modules named in config are imported once, at start-up, and any failure stops start-up
with a message naming the module. Nothing registers itself on import.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from socketsvc.config import Settings
from socketsvc.errors import ConfigError
from socketsvc.handlers import BUILTIN_NAMESPACES, BaseNamespace
from socketsvc.handlers.services import Services


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


def class_windows(routes: list[Route]) -> Callable[[str], float | None]:
    """namespace -> the ``recovery_window`` its handler class declares (None: not declared)."""
    exact = {r.namespace: r.handler for r in routes if not r.is_pattern}
    patterns = [r for r in routes if r.is_pattern]

    def window(namespace: str) -> float | None:
        handler = exact.get(namespace)
        if handler is None:
            handler = next((r.handler for r in patterns if r.matches(namespace)), None)
        return None if handler is None else handler.recovery_window

    return window


class NamespaceTable:
    """The handler instances of one server, by concrete namespace.

    A fixed namespace has one instance from start-up. A pattern route gets one instance per
    concrete namespace (``/team/a``, ``/team/b``), created on its first connect and dropped
    when its last client leaves.
    """

    def __init__(
        self,
        routes: list[Route],
        services: Services,
        handlers: dict[str, BaseNamespace],
        register: Callable[[BaseNamespace], None],
        in_use: Callable[[str], bool],
    ) -> None:
        """``handlers`` is the server's namespace -> instance table, ``register`` adds to it,
        ``in_use(namespace)`` tells whether any client is still connected there."""
        self.services = services
        self.handlers = handlers
        self.register = register
        self.in_use = in_use
        self._patterns = [r for r in routes if r.is_pattern]
        self._from_pattern: set[str] = set()
        for route in routes:
            if not route.is_pattern:
                register(route.handler(route.namespace, services))

    def handler_for(self, namespace: str) -> BaseNamespace | None:
        """The handler serving ``namespace``, instantiating a pattern route on first use."""
        handler = self.handlers.get(namespace)
        if handler is None:
            for route in self._patterns:
                if route.matches(namespace):
                    handler = route.handler(namespace, self.services)
                    self.register(handler)
                    self._from_pattern.add(namespace)
                    break
        return handler

    def release(self, namespace: str) -> None:
        """Drop a pattern namespace's instance once nobody is connected to it."""
        if namespace in self._from_pattern and not self.in_use(namespace):
            self._from_pattern.discard(namespace)
            self.handlers.pop(namespace, None)
