"""Where a node's Redis is: one server named by ``redis_url``, a primary that Redis
Sentinel names and replaces on failover, or a Redis Cluster (``redis+cluster://`` a node).

Every component connects with one URL (:func:`connection_url`), so the choice is made here
once and each client of a node, and the emitter, follows it. A Sentinel deployment is the URL

    redis+sentinel://[user:password@]host:port[,host:port...]/SERVICE[/DB][?sentinel_password=...]

(``rediss+sentinel://`` for TLS to the data nodes): the Sentinels to ask, the service they
monitor, and the data nodes' database and credentials. A client of it asks the Sentinels for
the primary on each new connection, so after a failover its next command reaches the promoted
replica.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from redis import asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

if TYPE_CHECKING:  # the emitter imports this module without the server's settings
    from socketsvc.config import Settings

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


def connection_url(settings: Settings) -> str:
    """The URL every Redis client of a node with ``settings`` connects with."""
    if settings.redis_cluster:
        scheme, rest = settings.redis_url.split("://", 1)
        return f"{scheme}+cluster://{rest}"
    if not settings.redis_sentinels:
        return settings.redis_url
    data = urlsplit(settings.redis_url)
    scheme = "rediss+sentinel" if data.scheme == "rediss" else "redis+sentinel"
    auth = data.netloc.rpartition("@")[0]
    db = data.path.strip("/") or "0"
    query: dict[str, str] = {"failover_timeout": f"{settings.redis_failover_timeout:g}"}
    if settings.redis_sentinel_password:
        query["sentinel_password"] = settings.redis_sentinel_password
    hosts = ",".join(settings.redis_sentinels)
    service = quote(settings.redis_sentinel_service, safe="")
    return f"{scheme}://{auth + '@' if auth else ''}{hosts}/{service}/{db}?{urlencode(query)}"


def is_cluster(url: str) -> bool:
    return url.split("://", 1)[0] in CLUSTER_SCHEMES


def cluster_client(url: str, options: dict[str, Any], max_connections: int) -> aioredis.Redis:
    """A client of the Redis Cluster that the node in ``url`` belongs to. Typed as a
    ``Redis``: the commands socketsvc uses are the same (pub/sub is sharded, see
    redis_sharded.py), and each multi-key one stays in one slot."""
    plain = url.replace("+cluster", "", 1)
    kept = {k: v for k, v in options.items() if k != "health_check_interval"}
    client = RedisCluster.from_url(plain, max_connections=max_connections, **kept)
    return cast(aioredis.Redis, client)


async def shard_subscribers(client: aioredis.Redis, channel: str) -> Any:
    """``PUBSUB SHARDNUMSUB channel`` asked of the shard that holds ``channel`` (redis-py
    would send it to any node, which counts only its own subscribers)."""
    cluster = cast(RedisCluster, client)
    await cluster.initialize()  # the slot map (a no-op once known)
    node = cluster.get_node_from_key(channel)
    return await cluster.execute_command("PUBSUB SHARDNUMSUB", channel, target_nodes=node)


def is_sentinel(url: str) -> bool:
    return url.split("://", 1)[0] in SENTINEL_SCHEMES


def failover_timeout(url: str) -> float:
    """Seconds a write is retried while Sentinel promotes a replica; 0 without Sentinel."""
    if not is_sentinel(url):
        return 0.0
    values = parse_qs(urlsplit(url).query).get("failover_timeout", ["30"])
    return float(values[0])


def safe_sentinel_url(url: str) -> str:
    """A Sentinel URL without its passwords."""
    parts = urlsplit(url)
    auth, _, hosts = parts.netloc.rpartition("@")
    user = auth.partition(":")[0]
    netloc = f"{user}:***@{hosts}" if auth else hosts
    return f"{parts.scheme}://{netloc}{parts.path}"


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's pool, bounded and blocking like a node's other pools: a burst waits for a
    free connection instead of failing as if Redis were down."""


class SentinelRedis(aioredis.Redis):
    """A client of the primary the Sentinels name; closing it closes their connections too.

    The Sentinels' clients are kept as made: redis-py's ``discover_master`` moves the one that
    answered to the front of its list, and concurrent discoveries (several connections
    reconnecting after a failover) can leave one client twice and drop another, which
    ``Sentinel.aclose`` would then never close."""

    asking: list[aioredis.Redis]

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        try:
            await super().aclose(close_connection_pool)
        finally:
            await asyncio.gather(*(client.aclose() for client in self.asking))


def sentinel_client(url: str, options: dict[str, Any], max_connections: int) -> aioredis.Redis:
    """A client of the primary that the Sentinels in ``url`` name, with the node's
    ``options`` (timeouts, retry) and a pool of at most ``max_connections``."""
    parts = urlsplit(url)
    auth, _, hosts = parts.netloc.rpartition("@")
    user, _, password = auth.partition(":")
    service, _, db = parts.path.strip("/").partition("/")
    query = parse_qs(parts.query)
    sentinels = []
    for address in hosts.split(","):
        host, _, port = address.rpartition(":")
        sentinels.append((host.strip("[]"), int(port)))
    asking: dict[str, Any] = {k: v for k, v in options.items() if k.startswith("socket_")}
    if "sentinel_password" in query:
        asking["password"] = query["sentinel_password"][0]
    sentinel = Sentinel(sentinels, sentinel_kwargs=asking)
    data: dict[str, Any] = dict(options)
    if user:
        data["username"] = unquote(user)
    if password:
        data["password"] = unquote(password)
    if parts.scheme.startswith("rediss"):
        data["ssl"] = True
    pool = _BlockingSentinelPool(  # type: ignore[no-untyped-call]
        unquote(service),
        sentinel,
        db=int(db or 0),
        max_connections=max_connections,
        timeout=options.get("socket_timeout", 2.0),
        **data,
    )
    client = cast(SentinelRedis, SentinelRedis.from_pool(pool))
    client.asking = list(sentinel.sentinels)
    return client
