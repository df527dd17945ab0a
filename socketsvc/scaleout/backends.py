"""The one place that picks a node's backends: ``memory`` (one node, the default) or ``redis``
(every node on one Redis shares rooms, broadcasts and presence).

Both backends of a node (the room manager and presence) have the same lifecycle: ``start``
before the node serves, ``stop`` after, and ``problem()`` for ``/readyz``. The memory ones are
null objects for it. Redis modules are imported only when ``redis`` is chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from socketsvc.config import MANAGERS, Settings
from socketsvc.errors import ConfigError
from socketsvc.scaleout.presence import MemoryPresence, Presence
from socketsvc.sio.fanout import FanoutManager
from socketsvc.sio.observer import Observer


class Backend(Protocol):
    """What the app runs for each backend: start, stop, and whether it can serve."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def problem(self) -> str | None: ...


@dataclass(frozen=True)
class Backends:
    """The room/broadcast manager and the presence store of one node."""

    manager: FanoutManager
    presence: Presence

    def all(self) -> tuple[Backend, ...]:
        """In start order (stopped in reverse)."""
        return (self.manager, self.presence)


def _memory(settings: Settings, observer: Observer) -> Backends:
    return Backends(manager=FanoutManager(observer=observer), presence=MemoryPresence())


def _redis(settings: Settings, observer: Observer) -> Backends:
    from socketsvc.scaleout.redis_manager import RedisManager
    from socketsvc.scaleout.redis_presence import RedisPresence

    return Backends(
        manager=RedisManager(settings.redis_url, settings.redis_prefix, observer),
        presence=RedisPresence(
            settings.redis_url, settings.redis_prefix, settings.presence_refresh, observer
        ),
    )


FACTORIES: dict[str, Callable[[Settings, Observer], Backends]] = {
    "memory": _memory,
    "redis": _redis,
}
assert set(FACTORIES) == set(MANAGERS)


def make_backends(settings: Settings, observer: Observer | None = None) -> Backends:
    """Single node, in memory, unless configured otherwise; ``observer`` sees emits, rooms,
    the bus and Redis outages."""
    try:
        factory = FACTORIES[settings.manager]
    except KeyError:
        raise ConfigError(
            f"manager: {settings.manager!r} is not one of {', '.join(FACTORIES)}"
        ) from None
    return factory(settings, observer or Observer())
