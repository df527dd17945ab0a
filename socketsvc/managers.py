"""The one place that chooses the room/broadcast backend."""

from __future__ import annotations

from collections.abc import Callable

import socketio

from socketsvc.config import MANAGERS, Settings
from socketsvc.errors import ConfigError


def _memory(settings: Settings) -> socketio.AsyncManager:
    return socketio.AsyncManager()


FACTORIES: dict[str, Callable[[Settings], socketio.AsyncManager]] = {"memory": _memory}
assert set(FACTORIES) == set(MANAGERS)


def make_manager(settings: Settings) -> socketio.AsyncManager:
    """Single node, in memory, unless configured otherwise."""
    try:
        factory = FACTORIES[settings.manager]
    except KeyError:
        raise ConfigError(
            f"manager: {settings.manager!r} is not one of {', '.join(FACTORIES)}"
        ) from None
    return factory(settings)
