"""The collaborators a handler class receives through its constructor: the node's own
(settings, presence, its Redis connection) and the application's, registered under typed
keys by ``lifespan`` hooks (a database pool, an HTTP client)."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from socketsvc.config import Settings
from socketsvc.scaleout.archive import ChatArchive
from socketsvc.scaleout.presence import Presence
from socketsvc.sio.cluster import Cluster

if TYPE_CHECKING:
    from socketsvc.scaleout.node_redis import NodeRedis

T = TypeVar("T")


class ServiceKey(Generic[T]):
    """A typed name for an application service: ``DB = ServiceKey("db", Pool)``; then
    ``services.provide(DB, pool)`` in a ``lifespan`` hook and ``self.services[DB]`` in
    handlers (typed as ``Pool``)."""

    __slots__ = ("name", "type")

    def __init__(self, name: str, kind: type[T] | Any = object) -> None:
        self.name = name
        self.type = kind

    def __repr__(self) -> str:
        return f"ServiceKey({self.name!r})"


@dataclass(frozen=True)
class Services:
    """Shared per-node objects; built once by the app factory, never global.

    Application services are provided while the node starts (in ``lifespan`` hooks, before
    any client connects) and read afterwards; a key provided twice is an error, so two
    handler modules cannot silently replace each other's service."""

    settings: Settings
    presence: Presence
    archive: ChatArchive
    cluster: Cluster | None = None  # None: a node alone (handlers see only its sockets)
    redis: NodeRedis | None = None
    """The node's Redis with ``manager = "redis"`` (None in memory): state every node shares,
    changed atomically there (scaleout/node_redis.py)."""
    _provided: dict[ServiceKey[Any], Any] = field(default_factory=dict, repr=False)
    _reported: set[Hashable] = field(default_factory=set, repr=False)

    def first_report(self, cause: Hashable, limit: int = 1000) -> bool:
        """Whether ``cause`` is new on this node (for logging a problem once per cause);
        past ``limit`` distinct causes every one counts as seen, so memory stays bounded."""
        if cause in self._reported or len(self._reported) >= limit:
            return False
        self._reported.add(cause)
        return True

    def provide(self, key: ServiceKey[T], value: T) -> None:
        """Register an application service (from a ``lifespan`` hook)."""
        if key in self._provided:
            raise RuntimeError(f"service {key.name!r} is already provided")
        self._provided[key] = value

    def withdraw(self, key: ServiceKey[Any]) -> None:
        """Remove a service (from the ``lifespan`` hook that provided it, after its ``yield``)."""
        self._provided.pop(key, None)

    def __getitem__(self, key: ServiceKey[T]) -> T:
        try:
            value: T = self._provided[key]
        except KeyError:
            raise LookupError(
                f"no service {key.name!r}: provide it in a lifespan hook "
                "(services.provide) of a handler class named in [namespaces]"
            ) from None
        return value

    def get(self, key: ServiceKey[T], default: Any = None) -> T | Any:
        return self._provided.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._provided
