"""Which handler serves which namespace: the routes (a namespace or pattern such as
``/team/*``, and its class) and the instances of pattern namespaces.

The routes are read from the configuration by :mod:`socketsvc.handlers.routes` (the layer
above this one); here a handler is what :mod:`socketsvc.sio.handler` says it is.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from socketsvc.errors import ConfigError

from .handler import Handler

log = logging.getLogger("socketsvc.server")

Class = TypeVar("Class", bound=type[Handler], covariant=True)


@dataclass(frozen=True)
class Route(Generic[Class]):
    """A namespace (or pattern such as ``/team/*``) and the class that serves it."""

    namespace: str
    handler: Class

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

    @property
    def target(self) -> str:
        return f"{self.handler.__module__}:{self.handler.__qualname__}"


def class_windows(routes: Sequence[Route[type[Handler]]]) -> Callable[[str], float | None]:
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
    concrete namespace (``/team/a``, ``/team/b``), created on its first connect. When its last
    client leaves, its ``on_release`` runs and it is dropped, unless its class sets
    ``keep_when_empty``; at shutdown every remaining pattern instance gets ``on_release``.
    """

    def __init__(
        self,
        routes: Sequence[Route[type[Handler]]],
        services: Any,
        handlers: dict[str, Handler],
        register: Callable[[Handler], None],
        in_use: Callable[[str], bool],
        run: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
    ) -> None:
        """``handlers`` is the server's namespace -> instance table, ``register`` adds to it,
        ``in_use(namespace)`` tells whether any client is still connected there, ``run``
        starts a handler call in a task of its own; ``services`` is what each handler class
        is instantiated with."""
        self.services = services
        self.handlers = handlers
        self.register = register
        self.in_use = in_use
        self.run = run
        self._patterns = [r for r in routes if r.is_pattern]
        self._from_pattern: set[str] = set()
        self._reported: set[type[Handler]] = set()
        for route in routes:
            if not route.is_pattern:
                register(self._instantiate(route, route.namespace, at_startup=True))

    def _instantiate(
        self, route: Route[type[Handler]], namespace: str, at_startup: bool
    ) -> Handler:
        try:
            return route.handler(namespace, self.services)
        except Exception as exc:
            if at_startup:
                raise ConfigError(
                    f"namespaces.{route.namespace}: {route.handler.__qualname__}.__init__ "
                    f"failed: {type(exc).__name__}: {exc}"
                ) from None
            raise

    def handler_for(self, namespace: str) -> Handler | None:
        """The handler serving ``namespace``, instantiating a pattern route on first use.

        Raises what a pattern class's ``__init__`` raised (logged here once per class)."""
        handler = self.handlers.get(namespace)
        if handler is None:
            for route in self._patterns:
                if route.matches(namespace):
                    try:
                        handler = self._instantiate(route, namespace, at_startup=False)
                    except Exception:
                        if route.handler not in self._reported:
                            self._reported.add(route.handler)
                            log.exception(
                                "%s.__init__ failed for namespace %s (logged once per class)",
                                route.handler.__qualname__,
                                namespace,
                            )
                        raise
                    self.register(handler)
                    self._from_pattern.add(namespace)
                    break
        return handler

    async def release(self, namespace: str) -> None:
        """Drop a pattern namespace's instance once nobody is connected to it, after its
        ``on_release``; keep it when clients came back meanwhile or its class says so."""
        if namespace not in self._from_pattern or self.in_use(namespace):
            return
        handler = self.handlers.get(namespace)
        if handler is None or handler.keep_when_empty:
            return
        await self._on_release(handler)
        if not self.in_use(namespace) and self.handlers.get(namespace) is handler:
            self._from_pattern.discard(namespace)
            self.handlers.pop(namespace, None)

    async def release_all(self) -> None:
        """At shutdown, once clients are gone: every pattern instance's ``on_release``."""
        for namespace in list(self._from_pattern):
            handler = self.handlers.pop(namespace, None)
            self._from_pattern.discard(namespace)
            if handler is not None:
                await self._on_release(handler)

    async def _on_release(self, handler: Handler) -> None:
        try:
            await self.run(handler.on_release())
        except Exception:
            log.exception(
                "%s.on_release failed for namespace %s",
                type(handler).__qualname__,
                handler.namespace,
            )

    def serves(self, namespace: str) -> bool:
        """Whether a client may connect to ``namespace`` here (``/`` always may)."""
        return (
            namespace == "/"
            or namespace in self.handlers
            or any(route.matches(namespace) for route in self._patterns)
        )

    def pattern_instances(self) -> list[str]:
        """The concrete namespaces that have a pattern instance now."""
        return sorted(self._from_pattern)
