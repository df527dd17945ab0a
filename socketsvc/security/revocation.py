"""The deny-list hook: a deployment's own check of whether a verified token is revoked.

A signature proves who issued a token, not that it still holds: a user logged out, was banned,
or had a device stolen. ``revoked_hook = "package.module:function"`` names an ``async def
revoked(claims) -> bool`` (look the ``jti``, ``sub`` or ``sid`` claim up in your store). It is
imported once at start-up, from the same places as handler modules, and awaited for every
verified token: at connect (True refuses with ``token_revoked``) and at ``auth:refresh`` (True
answers ``token_revoked`` and the connection keeps its current token until it expires). Unset,
nothing is revoked and nothing is awaited.

A hook that raises counts as revoked (fail closed: a deny-list that cannot be read must not
let everyone in); the failure is logged once per exception type.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from socketsvc.config import Settings
from socketsvc.config.derived import search_path  # where handler modules are found too
from socketsvc.errors import ConfigError

log = logging.getLogger("socketsvc.security")

Revoked = Callable[[Mapping[str, Any]], Awaitable[bool]]
"""``await revoked(claims)``: whether the token with these verified claims is revoked."""

SETTING = "revoked_hook"


def load_revoked(settings: Settings) -> Revoked | None:
    """The configured hook, checked to be an ``async def`` taking the claims; None when unset.
    A hook that cannot be imported or called so is a :class:`ConfigError` naming it."""
    target = settings.revoked_hook
    if not target:
        return None
    module_name, _, name = target.partition(":")
    for entry in reversed(search_path(settings)):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(
            f"{SETTING}: cannot import module '{module_name}': {type(exc).__name__}: {exc}"
        ) from None
    hook = getattr(module, name, None)
    if hook is None:
        raise ConfigError(f"{SETTING}: module '{module_name}' has no '{name}'")
    if not inspect.iscoroutinefunction(hook):
        raise ConfigError(f"{SETTING}: '{target}' must be 'async def {name}(claims) -> bool'")
    try:
        inspect.signature(hook).bind({})
    except TypeError:
        raise ConfigError(
            f"{SETTING}: '{target}' must take the claims as its one argument: "
            f"'async def {name}(claims) -> bool'"
        ) from None
    return guarded(hook, target)


def guarded(hook: Callable[[Mapping[str, Any]], Awaitable[Any]], target: str) -> Revoked:
    """``hook`` answering a plain bool, and True (revoked) when it raises; each exception type
    is logged once, with its traceback."""
    seen: set[type[BaseException]] = set()

    async def revoked(claims: Mapping[str, Any]) -> bool:
        try:
            return bool(await hook(claims))
        except Exception as exc:
            if type(exc) not in seen and len(seen) < 100:
                seen.add(type(exc))
                log.error(
                    "%s raised %s; tokens are refused as revoked while it does (logged once "
                    "per exception type)",
                    target,
                    type(exc).__name__,
                    exc_info=exc,
                )
            return True

    return revoked
