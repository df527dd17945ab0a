"""The node's Redis for handler code: ``self.services.redis`` on nodes with ``manager =
"redis"`` (None on a node alone, in memory).

State a handler keeps in its instance (``self.best_bid``) is per node; what every node must
agree on goes here, changed atomically (a Lua script or WATCH/MULTI; see README "State
across nodes"). The client has the options of the node's own components (every call bounded
by 2 s, a bounded pool of its own, one retry on a fresh connection: scaleout/redis_client.py),
and :meth:`NodeRedis.run` reports an outage as theirs are: logged once, counted in
``socketsvc_redis_outages_total{component="app"}``, and answered to the client as the
temporary error ``unavailable`` instead of a traceback per event.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from redis import asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from socketsvc import errors
from socketsvc.errors import SocketsvcError
from socketsvc.scaleout.redis_health import RedisHealth, redis_client
from socketsvc.sio.observer import Observer

T = TypeVar("T")
COMPONENT = "app"
OUTAGE = (RedisConnectionError, RedisTimeoutError, OSError)


class NodeRedis:
    """``client``: a ``redis.asyncio.Redis`` for any command; :meth:`key` names keys within
    the deployment's ``redis_prefix``; :meth:`run` awaits one operation, outages handled."""

    def __init__(self, url: str, prefix: str, observer: Observer | None = None) -> None:
        self.prefix = prefix
        self.client: aioredis.Redis = redis_client(url)
        self.link = RedisHealth(COMPONENT, url, observer)

    def key(self, *parts: str) -> str:
        """``<redis_prefix>:app:<parts joined by ':'>``: apart from the node's own keys, and
        from other deployments sharing the Redis."""
        return ":".join((self.prefix, COMPONENT, *parts))

    def script(self, source: str) -> AsyncScript:
        """A Lua script, run atomically by Redis (``await script(keys=[...], args=[...])``,
        loaded on first use and after a Redis restart)."""
        return self.client.register_script(source)

    async def run(self, operation: Awaitable[T]) -> T:
        """The result of one Redis operation. When Redis cannot be reached in time, the outage
        is logged once and :class:`SocketsvcError` ``unavailable`` (temporary) raised, which a
        handler's client receives as its error ack; a command Redis refuses (a script error)
        is raised as it is, a bug to fix."""
        try:
            result = await operation
        except OUTAGE as exc:
            self.link.mark_down(exc)
            raise SocketsvcError(
                errors.UNAVAILABLE, "storage is unavailable, try again", temporary=True
            ) from exc
        self.link.mark_up()
        return result

    # -- the node's backend lifecycle (scaleout/backends.py) -------------------------------

    async def start(self) -> None:
        await self.link.attempt(self.client.ping(), None)

    async def stop(self) -> None:
        await self.client.aclose()

    def problem(self) -> str | None:
        """Nothing for ``/readyz``: the node's own components report the same Redis, and
        this link learns of a recovery only from the next handler call."""
        return None

    def __repr__(self) -> str:
        return f"NodeRedis({self.link.url!r}, prefix={self.prefix!r})"


__all__ = ["NodeRedis"]
