"""Cluster-wide presence in Redis, with this node's own members as the source of truth.

Keys (``P`` = ``redis_prefix``, ``ns`` never contains ``:``):

- ``P:pn:<ns>:<room>`` — sorted set of the nodes with members in the room (score: when the
  entry lapses, ms since the epoch; used only to prune entries of dead nodes);
- ``P:pm:<node>:<ns>:<room>`` — hash ``sid -> "<joined_ns>:<name>"`` of one node's members.

Every key carries a TTL of 3 x ``presence_refresh``. Each live node rewrites its own hashes
and re-arms the TTLs every ``presence_refresh`` seconds, so the members of a node that died
without leaving disappear at most 3 x ``presence_refresh`` after its last refresh (for the
default 10 s: within 30 s). A Redis restart that lost the data is repaired by the next
refresh of every node.

While Redis is unreachable each node answers from its own members only (a local view, not an
error), logs the outage once, and resynchronises as soon as Redis answers again (retrying
with backoff from 0.1 s to 5 s). ``name_of`` always answers from this node: handlers ask it
only about their own clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from redis import asyncio as aioredis

from socketsvc.scaleout.redis_health import Backoff, RedisHealth, redis_client
from socketsvc.sio.observer import Observer

log = logging.getLogger("socketsvc.scaleout.presence")

ROOMS_PER_PIPELINE = 100
START_WAIT = 2.0

Entry = tuple[int, str]  # (joined at, ns since the epoch; name)


class RedisPresence:
    """:class:`~socketsvc.presence.Presence` shared by all nodes on one Redis."""

    def __init__(
        self, url: str, prefix: str, refresh: float, observer: Observer | None = None
    ) -> None:
        self.prefix = prefix
        self.observer = observer or Observer()
        self.refresh = refresh
        self.ttl_ms = max(1, int(refresh * 3 * 1000))
        self.node = uuid.uuid4().hex
        self.link = RedisHealth("presence", url, self.observer)
        self.redis: aioredis.Redis = redis_client(url)
        self._local: dict[tuple[str, str], dict[str, Entry]] = {}
        self._emptied: set[tuple[str, str]] = set()  # rooms left while Redis was away
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- keys ---------------------------------------------------------------------------------

    def _nodes_key(self, namespace: str, room: str) -> str:
        return f"{self.prefix}:pn:{namespace}:{room}"

    def _members_key(self, node: str, namespace: str, room: str) -> str:
        return f"{self.prefix}:pm:{node}:{namespace}:{room}"

    # -- Presence protocol --------------------------------------------------------------------

    async def add(self, namespace: str, room: str, sid: str, name: str) -> None:
        entries = self._local.setdefault((namespace, room), {})
        joined = entries.get(sid, (time.time_ns(), name))[0]  # a rename keeps its place
        entries[sid] = (joined, name)

        def write(pipe: Any) -> None:
            pipe.hset(self._members_key(self.node, namespace, room), sid, f"{joined}:{name}")
            self._arm(pipe, namespace, room)

        await self._try(write)

    async def remove(self, namespace: str, room: str, sid: str) -> str | None:
        entries = self._local.get((namespace, room))
        if entries is None or sid not in entries:
            return None
        name = entries.pop(sid)[1]
        if not entries:
            del self._local[(namespace, room)]

        def write(pipe: Any) -> None:
            if entries:
                pipe.hdel(self._members_key(self.node, namespace, room), sid)
            else:
                pipe.delete(self._members_key(self.node, namespace, room))
                pipe.zrem(self._nodes_key(namespace, room), self.node)

        if not await self._try(write) and not entries:
            self._emptied.add((namespace, room))
        return name

    async def name_of(self, namespace: str, room: str, sid: str) -> str | None:
        entry = self._local.get((namespace, room), {}).get(sid)
        return None if entry is None else entry[1]

    async def members(self, namespace: str, room: str) -> list[str]:
        entries = dict(self._local.get((namespace, room), {}))
        if self.link.ready:
            try:
                # A sid listed by two nodes (recovered on another node while the first one's
                # entry lives on) is one member.
                for sid, entry in (await self._others(namespace, room)).items():
                    entries.setdefault(sid, entry)
            except Exception as exc:
                self._lost(exc)
        return [name for _, name in sorted(entries.values())]

    async def has(self, namespace: str, room: str, sid: str) -> bool:
        if sid in self._local.get((namespace, room), {}):
            return True
        if not self.link.ready:
            return False
        try:
            return sid in await self._others(namespace, room)
        except Exception as exc:
            self._lost(exc)
            return False

    async def _others(self, namespace: str, room: str) -> dict[str, Entry]:
        """The entries other nodes hold for the room, by sid."""
        key = self._nodes_key(namespace, room)
        now = int(time.time() * 1000)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zremrangebyscore(key, "-inf", now - self.ttl_ms)  # long dead; tolerates skew
        pipe.zrange(key, 0, -1)
        nodes = [n.decode() for n in (await pipe.execute())[1]]
        nodes = [n for n in nodes if n != self.node]
        if not nodes:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for node in nodes:
            pipe.hgetall(self._members_key(node, namespace, room))
        found: dict[str, Entry] = {}
        for table in await pipe.execute():  # an expired node's hash is simply empty
            for sid, value in table.items():
                joined, _, name = value.decode().partition(":")
                found.setdefault(sid.decode(), (int(joined), name))
        return found

    # -- writing ------------------------------------------------------------------------------

    def _arm(self, pipe: Any, namespace: str, room: str) -> None:
        """(Re)set the TTLs of this node's entries for one room."""
        nodes = self._nodes_key(namespace, room)
        pipe.pexpire(self._members_key(self.node, namespace, room), self.ttl_ms)
        pipe.zadd(nodes, {self.node: int(time.time() * 1000) + self.ttl_ms})
        pipe.pexpire(nodes, self.ttl_ms)

    async def _try(self, write: Callable[[Any], None]) -> bool:
        """Apply one change in Redis unless it is unreachable (the refresh repairs it then)."""
        if not self.link.ready:
            return False
        try:
            pipe = self.redis.pipeline(transaction=True)
            write(pipe)
            await pipe.execute()
        except Exception as exc:
            self._lost(exc)
            return False
        return True

    def _lost(self, exc: BaseException) -> None:
        self.link.mark_down(exc)
        self._wake.set()

    async def _resync(self) -> None:
        """Rewrite every room this node has members in, and re-arm their TTLs."""
        emptied, self._emptied = self._emptied, set()
        rooms: list[tuple[tuple[str, str], dict[str, Entry]]] = [
            (key, {}) for key in emptied if key not in self._local
        ]
        rooms += list(self._local.items())
        if not rooms:
            await self.redis.ping()
        for start in range(0, len(rooms), ROOMS_PER_PIPELINE):
            pipe = self.redis.pipeline(transaction=True)
            for (namespace, room), entries in rooms[start : start + ROOMS_PER_PIPELINE]:
                key = self._members_key(self.node, namespace, room)
                pipe.delete(key)
                if not entries:
                    pipe.zrem(self._nodes_key(namespace, room), self.node)
                else:
                    pipe.hset(key, mapping={s: f"{j}:{n}" for s, (j, n) in entries.items()})
                    self._arm(pipe, namespace, room)
            try:
                await pipe.execute()
            except BaseException:
                self._emptied |= emptied
                raise

    # -- lifecycle (driven by the app's cleanup_ctx) -------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._refresher(), name="socketsvc-presence-refresh")
        await self.link.wait_settled(START_WAIT)

    async def stop(self) -> None:
        """Stop refreshing and remove this node's entries (a clean leave), then close."""
        if self._task is not None:
            self._stopping = True  # as well as cancel(): see RedisManager.stop
            self._wake.set()
            self._task.cancel()
            await asyncio.wait([self._task], timeout=3.0)
            self._task = None
        if self.link.ready and self._local:
            with contextlib.suppress(Exception):
                pipe = self.redis.pipeline(transaction=False)
                for namespace, room in self._local:
                    pipe.delete(self._members_key(self.node, namespace, room))
                    pipe.zrem(self._nodes_key(namespace, room), self.node)
                await asyncio.wait_for(pipe.execute(), 2.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.redis.aclose(), 2.0)

    async def _refresher(self) -> None:
        backoff = Backoff()
        while not self._stopping:
            self._wake.clear()
            started = time.perf_counter()
            try:
                await self._resync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.link.mark_down(exc)
            else:
                self.observer.presence_refreshed(time.perf_counter() - started)
                self.link.mark_up()
                backoff.reset()
            delay = self.refresh if self.link.ready else backoff.next()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def room_count(self) -> int:
        return len(self._local)

    def problem(self) -> str | None:
        return self.link.problem()
