"""The routes of one node: the built-in handler classes plus the ``[namespaces]`` table.

Handler modules named in config are imported once, at start-up, from the directories of
:func:`socketsvc.config.derived.search_path` (the same for the ``socketsvc`` console script and
``python -m socketsvc``); any failure stops start-up with a message naming the module, or the
class and method. Nothing registers itself on import.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys

from socketsvc.config import Settings
from socketsvc.config.derived import search_path, serves_chat
from socketsvc.errors import ConfigError
from socketsvc.sio.namespaces import Route
from socketsvc.suggest import did_you_mean

from .base import BaseNamespace
from .chat import ChatNamespace
from .checks import HandlerError

HandlerRoute = Route[type[BaseNamespace]]

BUILTIN_NAMESPACES: dict[str, type[BaseNamespace]] = {
    "/chat": ChatNamespace,
}


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


def load_routes(settings: Settings) -> list[HandlerRoute]:
    """Built-ins first (``/chat`` unless the settings leave it out: :func:`serves_chat`), then
    configured modules (which may replace a built-in)."""
    table: dict[str, type[BaseNamespace]] = (
        dict(BUILTIN_NAMESPACES) if serves_chat(settings) else {}
    )
    search = search_path(settings)
    for namespace, target in settings.namespaces.items():
        table[namespace] = import_handler(namespace, target, search)
    return [Route(ns, handler) for ns, handler in table.items()]
