"""The one place that picks a node's backends: ``memory`` (one node, the default) or ``redis``
(every node on one Redis shares rooms, broadcasts and presence), and with ``redis`` what the
nodes say there (``redis_protocol``): socketsvc's own bus, or the formats of Node's Redis
adapters, so that socketsvc and Node.js nodes form one cluster.

Each capability is one interface with its memory and Redis implementations side by side in this
folder: recovery (the interface in sio/recovery.py; ``recovery.py`` and ``redis_recovery.py``),
presence (``presence.py``, ``redis_presence.py``), the chat archive (``archive.py``,
``redis_archive.py``), and the bus (sio/fanout.py's ``FanoutManager`` delivers locally and is
the memory manager; ``redis_manager.py`` and the Node formats' managers extend it).

Every backend of a node has the same lifecycle: ``start`` before the node serves, ``stop``
after, and ``problem()`` for ``/readyz``. The memory ones are null objects for it. Redis
modules are imported only when ``redis`` is chosen.

With ``workers`` > 1 and ``memory``, the workers of the machine share everything through the
primary process's hub instead (:mod:`socketsvc.workers.backends`); with ``redis``, each worker
is a node of the cluster like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from socketsvc.config import Settings
from socketsvc.config.choices import MANAGERS, REDIS_PROTOCOLS
from socketsvc.errors import ConfigError
from socketsvc.scaleout.archive import ChatArchive, MemoryArchive
from socketsvc.scaleout.presence import MemoryPresence, Presence
from socketsvc.scaleout.recovery import MemoryRecovery
from socketsvc.scaleout.redis_topology import connection_url
from socketsvc.sio.cluster import Cluster, SingleNode
from socketsvc.sio.fanout import FanoutManager
from socketsvc.sio.observer import Observer
from socketsvc.sio.recovery import RecoveryLog, Windows

if TYPE_CHECKING:
    from socketsvc.scaleout.node_redis import NodeRedis


@runtime_checkable
class Backend(Protocol):
    """What the app runs for each backend: start, stop, and whether it can serve."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def problem(self) -> str | None: ...


@dataclass(frozen=True)
class Backends:
    """The room/broadcast manager, presence, the recovery log and the chat archive of a node,
    its cluster-wide operations (``fetch_sockets``, server-side events), and the Redis
    connection it offers handlers (``services.redis``; None in memory)."""

    manager: FanoutManager
    presence: Presence
    recovery: RecoveryLog
    archive: ChatArchive
    cluster: Cluster
    redis: NodeRedis | None = None

    def all(self) -> tuple[Backend, ...]:
        """In start order (stopped in reverse)."""
        extra: tuple[Backend, ...] = ()
        cluster: object = self.cluster
        if cluster is not self.manager and isinstance(cluster, Backend):
            extra = (cluster,)
        handlers = () if self.redis is None else (self.redis,)
        return (self.recovery, self.manager, *extra, self.presence, self.archive, *handlers)


def _memory(settings: Settings, windows: Windows, observer: Observer) -> Backends:
    recovery = MemoryRecovery(windows, settings.recovery_max_packets, settings.recovery_max_bytes)
    manager = FanoutManager(recovery=recovery, observer=observer)
    return Backends(
        manager=manager,
        presence=MemoryPresence(),
        recovery=recovery,
        archive=MemoryArchive(settings.chat_history),
        cluster=SingleNode(manager),
    )


def _redis(settings: Settings, windows: Windows, observer: Observer) -> Backends:
    from socketsvc.scaleout.node_redis import NodeRedis
    from socketsvc.scaleout.redis_archive import RedisArchive
    from socketsvc.scaleout.redis_presence import RedisPresence

    manager, recovery, cluster = PROTOCOLS[settings.redis_protocol](settings, windows, observer)
    return Backends(
        manager=manager,
        presence=RedisPresence(
            connection_url(settings), settings.redis_prefix, settings.presence_refresh, observer
        ),
        recovery=recovery,
        archive=RedisArchive(settings, observer),
        cluster=cluster,
        redis=NodeRedis(connection_url(settings), settings.redis_prefix, observer),
    )


Bus = tuple[FanoutManager, RecoveryLog, Cluster]


def _socketsvc_bus(settings: Settings, windows: Windows, observer: Observer) -> Bus:
    from socketsvc.scaleout.bus_requests import BusRequests
    from socketsvc.scaleout.redis_manager import RedisManager
    from socketsvc.scaleout.redis_recovery import RedisRecovery

    recovery = RedisRecovery(settings, windows, observer)
    if settings.redis_cluster:  # the bus on sharded channels, one per room
        from socketsvc.scaleout.redis_sharded import ShardedManager

        manager: RedisManager = ShardedManager(
            connection_url(settings), settings.redis_prefix, recovery, observer
        )
    else:
        manager = RedisManager(connection_url(settings), settings.redis_prefix, recovery, observer)
    cluster = BusRequests(connection_url(settings), settings.redis_prefix, manager, observer)
    return manager, recovery, cluster


def _classic_bus(settings: Settings, windows: Windows, observer: Observer) -> Bus:
    from socketsvc.scaleout.redis_recovery import RedisRecovery
    from socketsvc.scaleout.sio_classic import ClassicManager

    recovery = RedisRecovery(settings, windows, observer)
    manager = ClassicManager(connection_url(settings), settings.redis_prefix, recovery, observer)
    return manager, recovery, manager


def _streams_bus(settings: Settings, windows: Windows, observer: Observer) -> Bus:
    from socketsvc.scaleout.sio_streams import StreamsManager
    from socketsvc.scaleout.sio_streams_recovery import StreamsRecovery

    recovery = StreamsRecovery(settings, windows, observer)
    manager = StreamsManager(connection_url(settings), settings.redis_prefix, recovery, observer)
    return manager, recovery, manager


PROTOCOLS: dict[str, Callable[[Settings, Windows, Observer], Bus]] = {
    "socketsvc": _socketsvc_bus,
    "socket.io": _classic_bus,
    "socket.io-streams": _streams_bus,
}
assert set(PROTOCOLS) == set(REDIS_PROTOCOLS)


FACTORIES: dict[str, Callable[[Settings, Windows, Observer], Backends]] = {
    "memory": _memory,
    "redis": _redis,
}
assert set(FACTORIES) == set(MANAGERS)


def make_backends(
    settings: Settings, windows: Windows, observer: Observer | None = None
) -> Backends:
    """Single node, in memory, unless configured otherwise; ``windows`` gives each
    namespace's recovery window; ``observer`` sees emits, rooms, the bus and Redis outages."""
    try:
        factory = FACTORIES[settings.manager]
    except KeyError:
        raise ConfigError(
            f"manager: {settings.manager!r} is not one of {', '.join(FACTORIES)}"
        ) from None
    return factory(settings, windows, observer or Observer())
