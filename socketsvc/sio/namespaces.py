"""Which handler serves which namespace: built-ins plus the ``[namespaces]`` table, and the
instances of pattern namespaces (``/team/*``).

Handler modules named in config are imported once, at start-up, from the directories of
:func:`search_path` (the same for the ``socketsvc`` console script and ``python -m
socketsvc``); any failure stops start-up with a message naming the module, or the class and
method. Nothing registers itself on import.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import re
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from socketsvc.config import Settings, serves_chat
from socketsvc.errors import ConfigError
from socketsvc.handlers import BUILTIN_NAMESPACES, BaseNamespace, HandlerError
from socketsvc.handlers.services import Services
from socketsvc.suggest import did_you_mean

log = logging.getLogger("socketsvc.server")


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

    @property
    def target(self) -> str:
        return f"{self.handler.__module__}:{self.handler.__qualname__}"


def search_path(settings: Settings) -> list[str]:
    """Where handler modules are looked for, before the installed packages: ``handler_path``
    (which ends with the config file's directory when there is one), then the working
    directory."""
    seen: dict[str, None] = {}
    for entry in (*settings.handler_path, os.getcwd()):
        seen.setdefault(os.path.abspath(entry), None)
    return list(seen)


def import_handler(namespace: str, target: str, search: list[str]) -> type[BaseNamespace]:
    """The class ``package.module:Class`` names, imported with ``search`` first on sys.path."""
    module_name, _, class_name = target.partition(":")
    for entry in reversed(search):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    try:
        module = importlib.import_module(module_name)
    except HandlerError as exc:
        raise ConfigError(f"namespaces.{namespace}: {exc}") from None
    except Exception as exc:
        where = ""
        if isinstance(exc, ModuleNotFoundError) and module_name.startswith(str(exc.name)):
            where = f" (looked in {', '.join(search)} and the installed packages)"
            if "." not in module_name:
                where += did_you_mean(module_name, _modules_in(search), "'{}'")
        raise ConfigError(
            f"namespaces.{namespace}: cannot import module '{module_name}': "
            f"{type(exc).__name__}: {exc}{where}"
        ) from None
    handler = getattr(module, class_name, None)
    if handler is None:
        classes = [n for n, v in vars(module).items() if isinstance(v, type)]
        hint = did_you_mean(class_name, classes, "'{}'")
        raise ConfigError(
            f"namespaces.{namespace}: module '{module_name}' has no '{class_name}'{hint}"
        )
    if not (isinstance(handler, type) and issubclass(handler, BaseNamespace)):
        raise ConfigError(
            f"namespaces.{namespace}: '{target}' is not a socketsvc.handlers.BaseNamespace subclass"
        )
    try:
        handler.prepare()
    except HandlerError as exc:
        raise ConfigError(f"namespaces.{namespace}: {exc}") from None
    return handler


def _modules_in(search: list[str]) -> list[str]:
    """The top-level module names in the ``search`` directories (for a "did you mean")."""
    names = []
    for directory in search:
        with contextlib.suppress(OSError):
            for entry in os.scandir(directory):
                stem, dot, suffix = entry.name.partition(".")
                if (suffix == "py" and entry.is_file()) or (not dot and entry.is_dir()):
                    names.append(stem)
    return names


def load_routes(settings: Settings) -> list[Route]:
    """Built-ins first (``/chat`` unless the settings leave it out: :func:`serves_chat`), then
    configured modules (which may replace a built-in)."""
    table: dict[str, type[BaseNamespace]] = (
        dict(BUILTIN_NAMESPACES) if serves_chat(settings) else {}
    )
    search = search_path(settings)
    for namespace, target in settings.namespaces.items():
        table[namespace] = import_handler(namespace, target, search)
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
    concrete namespace (``/team/a``, ``/team/b``), created on its first connect. When its last
    client leaves, its ``on_release`` runs and it is dropped, unless its class sets
    ``keep_when_empty``; at shutdown every remaining pattern instance gets ``on_release``.
    """

    def __init__(
        self,
        routes: list[Route],
        services: Services,
        handlers: dict[str, BaseNamespace],
        register: Callable[[BaseNamespace], None],
        in_use: Callable[[str], bool],
        run: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
    ) -> None:
        """``handlers`` is the server's namespace -> instance table, ``register`` adds to it,
        ``in_use(namespace)`` tells whether any client is still connected there, ``run``
        starts a handler call in a task of its own."""
        self.services = services
        self.handlers = handlers
        self.register = register
        self.in_use = in_use
        self.run = run
        self._patterns = [r for r in routes if r.is_pattern]
        self._from_pattern: set[str] = set()
        self._reported: set[type[BaseNamespace]] = set()
        for route in routes:
            if not route.is_pattern:
                register(self._instantiate(route, route.namespace, at_startup=True))

    def _instantiate(self, route: Route, namespace: str, at_startup: bool) -> BaseNamespace:
        try:
            return route.handler(namespace, self.services)
        except Exception as exc:
            if at_startup:
                raise ConfigError(
                    f"namespaces.{route.namespace}: {route.handler.__qualname__}.__init__ "
                    f"failed: {type(exc).__name__}: {exc}"
                ) from None
            raise

    def handler_for(self, namespace: str) -> BaseNamespace | None:
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

    async def _on_release(self, handler: BaseNamespace) -> None:
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
