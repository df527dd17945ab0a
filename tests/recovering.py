"""Recovery tests' parts: :class:`Member`, a python-socketio client of ``/recovering``
(tests.sample_handlers.RecoveringNamespace) that recovers as the stock JS client does (it
keeps its session's pid and the offset of the last packet it got, and sends both when it
connects again); :class:`Cluster`, the nodes (one in memory, or two on one Redis) and what
was published to room ``r``; :class:`Hold`, a checkpoint that holds one step of one
session's flow."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestServer

from socketsvc.app.factory import BACKENDS, SIO
from socketsvc.sio.recovery import Checkpoints
from tests.cluster import CLIENT_SERIALIZERS

NS = "/recovering"


class Member:
    """One client identity (pid, last offset, everything received, in order) across
    connections. Each connect is a new connection (a reconnect); what an abandoned connection
    still receives is not counted, as a real client whose transport broke never sees it."""

    def __init__(self, serializer: str = "json", transport: str = "websocket") -> None:
        self.serializer = serializer
        self.transport = transport
        self.pid: str | None = None
        self.offset: str | None = None
        self.got: list[Any] = []
        self.client: socketio.AsyncClient | None = None  # the current connection
        self._made: list[socketio.AsyncClient] = []

    async def connect(
        self, node: Any, recover: bool = True, auth: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Connect (with the pid and offset, when ``recover`` and there are any, added to
        ``auth``) to the test server ``node``; what ``whoami`` answers (sid, pid, the auth
        on_connect saw)."""
        client = socketio.AsyncClient(
            serializer=CLIENT_SERIALIZERS[self.serializer], reconnection=False
        )
        self._made.append(client)
        self.client = client
        client.on("news", lambda *args: self._news(client, *args), namespace=NS)
        auth = dict(auth or {})
        if recover and self.pid is not None:
            auth["pid"] = self.pid
            if self.offset is not None:
                auth["offset"] = self.offset
        await client.connect(
            str(node.make_url("/")),
            namespaces=[NS],
            transports=[self.transport],
            auth=auth or None,
            wait_timeout=5,
        )
        who: dict[str, Any] = await client.call("whoami", namespace=NS, timeout=5)
        self.pid = who["pid"]
        return who

    def _news(self, client: socketio.AsyncClient, payload: Any, offset: Any = None) -> None:
        if client is not self.client:
            return  # an abandoned connection
        self.got.append(payload)
        if isinstance(offset, str):
            self.offset = offset

    @property
    def eio_sid(self) -> str:
        """The Engine.IO sid of the current connection (once its handshake is done)."""
        assert self.client is not None and self.client.eio.sid is not None
        return str(self.client.eio.sid)

    async def call(self, event: str, *args: Any) -> Any:
        assert self.client is not None
        data = args[0] if len(args) == 1 else args
        return await self.client.call(event, data, namespace=NS, timeout=5)

    async def close(self) -> None:
        for client in self._made:
            if client.connected:
                await client.disconnect()
            else:  # a connect abandoned half-way may still have its transport
                await client.eio.disconnect(abort=True)
            await client.shutdown()
            # A connection the server dropped while its connect was abandoned: end its loops.
            eio = client.eio
            for task in (eio.write_loop_task, eio.read_loop_task):
                if task is not None and not task.done():
                    eio.queue.put_nowait(None)
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(task, 5)


async def wait_for(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Wait until ``condition()`` (a coroutine function) is true; fail after ``timeout``."""
    async with asyncio.timeout(timeout):
        while not await condition():  # noqa: ASYNC110 - state in Redis or another node
            await asyncio.sleep(0.01)


class Hold(Checkpoints):
    """Holds session ``pid``'s flow at ``point``, once, until :meth:`resume`."""

    def __init__(self, point: str, pid: str) -> None:
        self.point, self.pid = point, pid
        self.reached_it = asyncio.Event()
        self._go = asyncio.Event()

    async def reached(self, point: str, pid: str) -> None:
        if point == self.point and pid == self.pid and not self.reached_it.is_set():
            self.reached_it.set()
            await self._go.wait()

    async def wait(self) -> None:
        await asyncio.wait_for(self.reached_it.wait(), 10)

    def resume(self) -> None:
        self._go.set()


class Cluster:
    """The nodes, and what was published to room ``r`` of ``/recovering``, in order."""

    def __init__(self, nodes: list[TestServer]) -> None:
        self.nodes = nodes
        self.sent: list[int] = []

    async def publish(self, count: int) -> None:
        """Stored emits, from the nodes in turn."""
        for _ in range(count):
            n = len(self.sent) + 1
            node = self.nodes[n % len(self.nodes)]
            await node.app[SIO].emit("news", n, namespace=NS, to="r")
            self.sent.append(n)

    def hold(self, node: TestServer, point: str, pid: str) -> Hold:
        hold = Hold(point, pid)
        node.app[BACKENDS].recovery.checkpoints = hold
        return hold

    async def kept(self, pid: str) -> bool:
        return await self.nodes[0].app[BACKENDS].recovery.pending(NS, pid)

    async def drop(self, node: TestServer, member: Member) -> None:
        """The node closes the member's current transport (its client reconnects later)."""
        await node.app[SIO].close_transport(member.eio_sid)

    async def all_received(self, member: Member) -> None:
        """Every packet sent, in order, none twice: checked after one more live packet, which
        the member gets after anything sent before it."""
        await self.publish(1)
        await until(lambda: len(member.got) >= len(self.sent))
        assert member.got == self.sent


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``condition()`` is true; fail after ``timeout``."""

    async def check() -> bool:
        return condition()

    await wait_for(check, timeout)


async def joined(cluster: Cluster, member: Member, node: TestServer) -> str:
    """The member connected to ``node``, in room ``r``, with one packet received (so it has
    an offset); its sid."""
    who = await member.connect(node)
    assert await member.call("enter", "r") is True
    await cluster.publish(1)
    await until(lambda: len(member.got) == 1)
    return str(who["sid"])


async def kept(cluster: Cluster, member: Member) -> None:
    """Wait until the member's dropped session is kept, claimable."""
    await wait_for(lambda: cluster.kept(str(member.pid)))


async def away(cluster: Cluster, member: Member, node: TestServer) -> str:
    """The member :func:`joined` on ``node``, then dropped by it with its session kept: its
    sid."""
    sid = await joined(cluster, member, node)
    await cluster.drop(node, member)
    await kept(cluster, member)
    return sid


async def abandon(connecting: asyncio.Task[object]) -> None:
    """A connect whose transport was dropped under it: it would wait for its answers."""
    connecting.cancel()
    with contextlib.suppress(BaseException):
        await connecting


async def recovered(member: Member, node: TestServer, sid: str) -> None:
    who = await member.connect(node)
    assert who["sid"] == sid, "connected fresh inside the window"
    state = await member.call("state")
    assert state["recovered"] is True and state["rooms"] == ["r"]


MakeCluster = Callable[..., Awaitable[Cluster]]


@pytest.fixture(name="make_cluster", params=["memory", "redis"])
def make_cluster_fixture(request: pytest.FixtureRequest, start_server: Any) -> MakeCluster:
    """``await make_cluster(**settings)``: one node in memory, or two on one redis-server."""
    redis: dict[str, Any] = {}
    if request.param == "redis":
        redis = {
            "manager": "redis",
            "redis_url": request.getfixturevalue("redis_url"),
            "redis_prefix": request.getfixturevalue("redis_prefix"),
        }

    async def make(**settings: Any) -> Cluster:
        if not redis:
            return Cluster([await start_server(**settings)])
        return Cluster([await start_server(**redis, **settings) for _ in range(2)])

    return make


@pytest.fixture(name="member", params=[("json", "websocket"), ("msgpack", "polling")], ids="-".join)
async def member_fixture(request: pytest.FixtureRequest) -> AsyncIterator[Member]:
    """A :class:`Member`: JSON over websocket, or msgpack over polling."""
    m = Member(*request.param)
    yield m
    await m.close()
