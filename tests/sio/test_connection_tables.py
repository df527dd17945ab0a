"""Nothing a connection leaves behind: after every kind of connection has come and gone, each
table the node keeps (in socketsvc's objects and the python-socketio / python-engineio ones they
extend) is back to its size before, and no task is left running.

The tables are not listed by hand: the test walks the node's objects and measures every dict,
list, set and deque it reaches, so a table added tomorrow is checked too. The node is warmed up
with one round of every kind first, so what is made once per node (a namespace instance, a
metric's label set) is in the baseline, and what is made per connection is not."""

from __future__ import annotations

import asyncio
import collections
import json
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import aiohttp
import pytest
import socketio

from socketsvc.app.factory import BACKENDS, SERVICES, SIO
from tests import raw_client
from tests.conftest import CLIENT_SERIALIZERS, SERIALIZERS, TEST_NAMESPACES, StartServer, eventually
from tests.engine.test_polling import small_receive_buffer
from tests.recovering import Hold, wait_for

WALKED_PACKAGES = {"socketsvc", "socketio", "engineio"}
CONTAINERS = (dict, list, set, frozenset, collections.deque, weakref.WeakValueDictionary)
CONTAINERS += (weakref.WeakKeyDictionary, weakref.WeakSet)  # type: ignore[assignment]
SETTINGS: dict[str, Any] = {
    "namespaces": TEST_NAMESPACES,
    # recovery on for /chat and /recovering, with a window this test can wait out
    "namespace_recovery": {"/chat": 1, "/recovering": 1},
    "ping_interval": 1.0,  # an abandoned long-poll session ends after 2 s
    "ping_timeout": 1.0,
    "connect_timeout": 1.0,  # a CONNECT deadline's timer entry lives this long
    "chat_history": 0,  # a room's history is kept by design (chat_history, per room)
    "rate_limit_events": 5,
    "rate_limit_burst": 5,
    "max_payload": 16_384,
    "max_buffer_bytes": 65_536,
}


def containers(*roots: Any) -> Iterator[tuple[Any, str]]:
    """Every container reachable from ``roots`` (through the objects of the walked packages),
    once, with its path: ``Class.attribute``, plus ``[]`` for a container nested in another."""
    seen: set[int] = set()
    stack: list[tuple[Any, str]] = [(root, type(root).__name__) for root in roots]
    while stack:
        obj, path = stack.pop()
        if id(obj) in seen or isinstance(obj, str | bytes | int | float | type):
            continue
        seen.add(id(obj))
        if isinstance(obj, CONTAINERS):
            yield obj, path
            children: Iterable[Any] = obj.values() if isinstance(obj, Mapping) else obj
            stack.extend((child, path + "[]") for child in list(children))
            continue
        if type(obj).__module__.split(".")[0] not in WALKED_PACKAGES:
            continue
        attributes = dict(getattr(obj, "__dict__", {}))
        for cls in type(obj).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if slot not in attributes and hasattr(obj, slot):
                    attributes[slot] = getattr(obj, slot)
        name = type(obj).__name__
        stack.extend((value, f"{name}.{attr}") for attr, value in attributes.items())


def table_sizes(*roots: Any) -> collections.Counter[str]:
    """Size of every container reachable from ``roots``, by path, summed over the objects of
    each class."""
    sizes: collections.Counter[str] = collections.Counter()
    for table, path in containers(*roots):
        sizes[path] += len(table)
    return sizes


def grown(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    return {k: (before.get(k, 0), n) for k, n in after.items() if n > before.get(k, 0)}


async def stock_clients(url: str) -> None:
    """python-socketio on both parsers and every transport: a room, a message, a goodbye."""
    for serializer in SERIALIZERS:
        for transports in (["polling"], ["websocket"], ["polling", "websocket"]):
            client = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer])
            await client.connect(url, namespaces=["/chat", "/test"], transports=transports)
            join = {"room": "lobby", "name": serializer}
            assert "error" not in await client.call("join", join, namespace="/chat", timeout=5)
            text = {"room": "lobby", "text": "hi"}
            assert "error" not in await client.call("message", text, namespace="/chat", timeout=5)
            assert await client.call("echo", 1, namespace="/test", timeout=5) == 1
            await client.disconnect()
            await client.shutdown()


async def refused_clients(url: str) -> None:
    """A handler's refusal and a handler that crashes while connecting."""
    for auth in ({"refuse": True}, {"reject": True}):
        client = socketio.AsyncClient()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(url, namespaces=["/test"], auth=auth, transports=["websocket"])
        await client.shutdown()


async def away_client(http: aiohttp.ClientSession, srv: Any) -> dict[str, Any]:
    """Joins a room, gets a stored packet, drops without a goodbye: the auth to come back."""
    ws, hello = await raw_client.join(http, srv, "/recovering")
    assert await raw_client.ask(ws, "/recovering", 1, "enter", "r") is True
    await ws.send_str('42/recovering,2["tell","r","one"]')
    offset = None
    while offset is None:
        frame = await ws.receive_str()
        if frame.startswith('42/recovering,["news"'):
            offset = json.loads(frame.split(",", 1)[1])[-1]
    await ws.close()
    return {"pid": hello["pid"], "offset": offset, "sid": hello["sid"]}


async def recovered_client(http: aiohttp.ClientSession, srv: Any) -> None:
    """Drops without a goodbye, comes back with its pid and offset, then leaves properly."""
    away = await away_client(http, srv)
    back, again = await raw_client.join(http, srv, "/recovering", away)
    assert again["sid"] == away["sid"], "the session was not recovered"
    await back.send_str("41/recovering,")
    await back.close()


async def restore_cut_client(http: aiohttp.ClientSession, srv: Any) -> None:
    """Comes back, drops again while its restore waits at its start (what is sent to it is
    held meanwhile), and never returns."""
    away = await away_client(http, srv)
    recovery = srv.app[BACKENDS].recovery
    usual, hold = recovery.checkpoints, Hold("connected", away["pid"])
    recovery.checkpoints = hold
    try:
        back, _ = await raw_client.join(http, srv, "/recovering", away)
        await hold.wait()
        await back.close()
        await wait_for(lambda: recovery.pending("/recovering", away["pid"]))  # kept again
    finally:
        hold.resume()
        recovery.checkpoints = usual


async def rate_limited_client(http: aiohttp.ClientSession, srv: Any) -> None:
    """Past its burst and another one, the server disconnects it."""
    ws, _ = await raw_client.join(http, srv, "/test")
    for n in range(40):
        if ws.closed:
            break
        await ws.send_str(f'42/test,{n}["echo",{n}]')
    async with asyncio.timeout(5):
        while (await ws.receive()).type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            pass


async def slow_consumer(srv: Any) -> None:
    """A client that stops reading while its backlog grows past max_buffer_bytes."""
    sio = srv.app[SIO]
    connector = aiohttp.TCPConnector(socket_factory=small_receive_buffer)
    async with aiohttp.ClientSession(connector=connector) as http:
        ws, _ = await raw_client.join(http, srv, "/chat")
        eio_sid = next(iter(sio.eio.sockets))
        for _ in range(10_000):  # at most 10 MB; the limit trips long before
            if eio_sid not in sio.eio.sockets:
                break
            sio.eio.push(eio_sid, ["x" * 1000])
            await asyncio.sleep(0)
        assert eio_sid not in sio.eio.sockets, "the slow consumer was not cut"
        await ws.close()


async def cut_mid_handshake(http: aiohttp.ClientSession, srv: Any) -> None:
    """Engine.IO open and nothing after it (websocket and long-polling), and a namespace
    CONNECT whose connection is cut while the handler's on_connect still runs."""
    base = str(srv.make_url("/socket.io/")) + "?EIO=4&transport="
    ws = await http.ws_connect(base + "websocket")
    await ws.receive_str()
    await ws.close()
    async with http.get(base + "polling") as opened:
        assert opened.status == 200  # and never polled again: the heartbeat ends it
    ws = await http.ws_connect(base + "websocket")
    await ws.receive_str()
    await ws.send_str("40/slow,")
    await ws.close()


async def every_kind(srv: Any) -> None:
    url = str(srv.make_url("/"))
    await stock_clients(url)
    await refused_clients(url)
    async with aiohttp.ClientSession() as http:
        await recovered_client(http, srv)
        await restore_cut_client(http, srv)
        await rate_limited_client(http, srv)
        await cut_mid_handshake(http, srv)
    await slow_consumer(srv)


async def quiet(srv: Any) -> collections.Counter[str]:
    """The tables once the warm-up's sessions are gone and no size has changed for longer than
    a recovery window and a heartbeat (at most 15 s): the per-node baseline."""
    roots = (srv.app[SIO], srv.app[SERVICES], srv.app[BACKENDS])
    loop = asyncio.get_running_loop()
    sizes, since, deadline = table_sizes(*roots), loop.time(), loop.time() + 15
    while loop.time() - since < 2.5 or srv.app[SIO].eio.sockets:
        assert loop.time() < deadline, "the node never settled after the warm-up"
        await asyncio.sleep(0.1)
        if (now := table_sizes(*roots)) != sizes:
            sizes, since = now, loop.time()
    return sizes


async def settled(srv: Any, baseline: collections.Counter[str], tasks: int) -> dict[str, Any]:
    """Wait (at most 15 s: windows and heartbeats end) until nothing is left above baseline."""
    roots = (srv.app[SIO], srv.app[SERVICES], srv.app[BACKENDS])
    left: dict[str, Any] = {}
    for _ in range(150):
        left = grown(baseline, table_sizes(*roots))
        if len(asyncio.all_tasks()) > tasks:
            left["running tasks"] = (tasks, len(asyncio.all_tasks()))
        if not left:
            return left
        await asyncio.sleep(0.1)
    return left


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_every_table_is_back_to_its_size_once_connections_are_gone(
    start_server: StartServer, backend: str, request: pytest.FixtureRequest
) -> None:
    """On the memory backend and on Redis, whose components (bus, recovery log, presence)
    keep their own per-connection tables."""
    redis: dict[str, Any] = {}
    if backend == "redis":
        redis = {
            "manager": "redis",
            "redis_url": request.getfixturevalue("redis_url"),
            "redis_prefix": request.getfixturevalue("redis_prefix"),
        }
    srv = await start_server(**SETTINGS, **redis, serializer="auto")  # both parsers, one node
    roots = (srv.app[SIO], srv.app[SERVICES], srv.app[BACKENDS])
    before = table_sizes(*roots)

    # while connected, the walk sees per-connection tables grow: it reaches them
    client = socketio.AsyncClient()
    await client.connect(str(srv.make_url("/")), namespaces=["/chat"], transports=["websocket"])
    during = grown(before, table_sizes(*roots))
    assert any(path.endswith(".sockets") for path in during), during
    await client.disconnect()
    await client.shutdown()

    await every_kind(srv)  # the warm-up: what is made once per node
    baseline, tasks = await quiet(srv), len(asyncio.all_tasks())
    for _ in range(2):
        await every_kind(srv)
        left = await settled(srv, baseline, tasks)
        assert not left, "\n".join(f"{k}: {v}" for k, v in sorted(left.items()))


# Where a live connection's sid may be a key: its record (and the table's index of the
# records that hold packets back, or have a token), and python-socketio's room table, with
# the manager's per-client index of it (rooms are the manager's, not the connection's).
ONE_PLACE = {
    "ConnectionTable._records",
    "ConnectionTable.held",
    "ConnectionTable._subjects[]",
    "FanoutManager._memberships",
    "FanoutManager.rooms[]",
    # not bookkeeping but data: /chat's presence (who is in a room, kept by its handler and
    # left in on_disconnect), and a stored packet's skip_sid in the recovery log
    "MemoryPresence._rooms[]",
    "Stored.skip",
}


def holders(sid: str, *roots: Any) -> set[str]:
    """The paths of the containers reachable from ``roots`` that hold ``sid``: as a key, a
    member, or in a tuple key."""
    found = set()
    for table, path in containers(*roots):
        keys = list(table.keys() if isinstance(table, Mapping) else table)
        if any(k == sid or (isinstance(k, tuple) and sid in k) for k in keys):
            found.add(path)
    return found


async def test_what_the_node_keeps_about_a_connection_is_in_its_record(
    start_server: StartServer,
) -> None:
    """Keyed by its sid, a live namespace connection is found only in its record's table and
    in python-socketio's room table (with the manager's index of it), whatever it did: joined
    a room, saved session data, recovered its session."""
    srv = await start_server(**SETTINGS, serializer="auto")
    sio = srv.app[SIO]
    async with aiohttp.ClientSession() as http:
        away = await away_client(http, srv)
        back, again = await raw_client.join(http, srv, "/recovering", away)
        assert again["sid"] == away["sid"]
        plain = socketio.AsyncClient()
        await plain.connect(str(srv.make_url("/")), namespaces=["/chat"], transports=["websocket"])
        join = {"room": "lobby", "name": "p"}
        assert "error" not in await plain.call("join", join, namespace="/chat", timeout=5)
        try:
            for sid in (away["sid"], plain.get_sid("/chat")):
                record = sio.connections.get(sid)
                assert record is not None and record.sid == sid
                found = holders(sid, sio, srv.app[BACKENDS])
                assert found <= ONE_PLACE, found - ONE_PLACE
            assert sio.connections.get(away["sid"]).recovered
        finally:
            await plain.disconnect()
            await plain.shutdown()
            await back.close()
    await eventually(lambda: not sio.connections)
