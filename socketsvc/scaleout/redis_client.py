"""The one way a node, and an emitter, make a Redis client: bounded calls, a bounded pool,
one retry on a fresh connection. Importable without the server's dependencies (the
``socketsvc-emitter`` distribution ships it); :mod:`~socketsvc.scaleout.redis_health` adds how
a node watches the connection."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis import asyncio as aioredis
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from socketsvc.scaleout.redis_topology import (
    cluster_client,
    is_cluster,
    is_sentinel,
    safe_sentinel_url,
    sentinel_client,
)

# Every Redis call is bounded: a blackholed Redis costs at most this much per attempt.
SOCKET_TIMEOUT = 2.0
# Connections per client and component. A burst of handler tasks (a client that reconnects
# flushes everything it buffered at once) waits for a free connection, up to SOCKET_TIMEOUT,
# instead of failing as if Redis were down.
MAX_CONNECTIONS = 64


def client_options() -> dict[str, Any]:
    """Options for ``redis.asyncio.Redis.from_url``: fail fast; reconnecting is ours."""
    return {
        "socket_connect_timeout": SOCKET_TIMEOUT,
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_keepalive": True,
        # One immediate retry on a fresh connection: after an outage, pooled connections
        # are dead and the first command on each would fail otherwise.
        "retry": Retry(NoBackoff(), 1),
        "health_check_interval": 15,
    }


def redis_client(url: str) -> aioredis.Redis:
    """A client for ``url`` with :func:`client_options` and a bounded, blocking pool; of the
    Sentinels' primary for ``redis+sentinel://``, of a Cluster for ``redis+cluster://``
    (see :mod:`~socketsvc.scaleout.redis_topology`)."""
    if is_sentinel(url):
        return sentinel_client(url, client_options(), MAX_CONNECTIONS)
    if is_cluster(url):
        return cluster_client(url, client_options(), MAX_CONNECTIONS)
    pool = BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=SOCKET_TIMEOUT, **client_options()
    )
    return aioredis.Redis.from_pool(pool)  # closing the client closes the pool


def safe_url(url: str) -> str:
    """``url`` without its password, for logs and readiness reasons."""
    if is_sentinel(url):
        return safe_sentinel_url(url)
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
