"""One cluster with Node.js: real socket.io 4.8 servers on ``@socket.io/redis-adapter`` 8.3
(``redis_protocol = "socket.io"``) or ``@socket.io/redis-streams-adapter`` 0.3
(``"socket.io-streams"``), socketsvc nodes, a real ``redis-server``, stock clients of both
parsers on each side (npm socket.io-client on Node and socketsvc, python-socketio on
socketsvc), binary payloads, and ``@socket.io/redis-emitter`` 5.1.

Each adapter's Node process serves every test of it (the module-scoped ``node_js``); tests
that only one adapter has are parametrized with it.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import msgpack
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from socketsvc.app.factory import SIO
from socketsvc.scaleout.emitter import Emitter
from tests.conftest import ConnectTo, Inbox, StartServer
from tests.scaleout.mixed_handlers import NAMESPACES, MixedNamespace
from tests.scaleout.node_cluster import NodeFailed, NodeNode, start_node

NSP = "/mixed"
BLOB = bytes([0, 1, 2, 254, 255])


PROTOCOLS = {"classic": "socket.io", "streams": "socket.io-streams"}
CLASSIC = pytest.mark.parametrize("node_js", ["classic"], indirect=True)
STREAMS = pytest.mark.parametrize("node_js", ["streams"], indirect=True)


@pytest.fixture(scope="module", params=list(PROTOCOLS))
def node_js(request: pytest.FixtureRequest, redis_url: str) -> Iterator[NodeNode]:
    """Two Node nodes (one per parser) on the adapter of the parameter, for the module."""
    key = f"sio{uuid.uuid4().hex[:10]}"
    for node in start_node(request.param, redis_url, key):
        node.adapter, node.key = request.param, key
        yield node


@pytest.fixture
async def nodejs(node_js: NodeNode) -> AsyncIterator[NodeNode]:
    """The module's Node nodes; this test's clients are closed at its end."""
    yield node_js
    await node_js.call("closeAll")


@pytest.fixture
def key(node_js: NodeNode) -> str:
    return node_js.key


def cluster_settings(node: NodeNode, redis_url: str) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "manager": "redis",
        "redis_url": redis_url,
        "redis_protocol": PROTOCOLS[node.adapter],
        "redis_prefix": node.key,
        "namespaces": NAMESPACES,
    }
    if node.adapter == "streams":  # Node's servers have connection-state recovery on
        settings["namespace_recovery"] = {NSP: 120}
    return settings


@pytest.fixture
async def svc(start_server: StartServer, redis_url: str, nodejs: NodeNode) -> TestServer:
    MixedNamespace.received.clear()
    return await start_server(**cluster_settings(nodejs, redis_url))


def plain(args: Any) -> Any:
    """Event arguments without the recovery offset the streams cluster adds as the last one."""
    if isinstance(args, list | tuple) and args and is_offset(args[-1]):
        args = args[:-1]
        return args[0] if isinstance(args, tuple) and len(args) == 1 else args
    return args


def entry(offset: str) -> tuple[int, int]:
    ms, _, seq = offset.partition("-")
    return int(ms), int(seq)


def is_offset(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"\d+-\d+", value) is not None


async def js_client(node: NodeNode, name: str, url: str, parser: str) -> str:
    """A stock npm socket.io-client (hosted by the Node process) on ``url``; its sid."""
    opened = await node.call("connect", name=name, url=url, nsp=NSP, parser=parser)
    return str(opened["id"])


def base(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


async def rooms_become(py: Any, rooms: list[str]) -> None:
    """Wait until the client's rooms are ``rooms`` (Node's socketsJoin does not wait)."""
    deadline = time.monotonic() + 5
    while sorted((await py.call("state", namespace=NSP, timeout=5))["rooms"]) != rooms:
        assert time.monotonic() < deadline, f"rooms never became {rooms}"
        await asyncio.sleep(0.02)


async def enter(py: Any, room: str) -> None:
    assert await py.call("enter", room, namespace=NSP, timeout=5) is True


async def test_room_broadcasts_cross_both_ways_for_every_parser_with_binary(
    nodejs: NodeNode, svc: TestServer, connect_to: ConnectTo
) -> None:
    clients = {
        "node-json": nodejs.urls["json"],
        "node-msgpack": nodejs.urls["msgpack"],
        "svc-json": base(svc),
        "svc-msgpack": base(svc),
    }
    for name, url in clients.items():
        await js_client(nodejs, name, url, name.split("-")[1])
        await nodejs.call("clientAsk", name=name, event="enter", args=["room1"])
    pys = [await connect_to(svc, parser, ns=NSP) for parser in ("json", "msgpack")]
    inboxes = [Inbox(py, "news", NSP) for py in pys]
    for py in pys:
        await enter(py, "room1")

    payload = {"blob": BLOB, "n": 2**40, "text": "zażółć"}
    # Node -> everyone in the room, socketsvc's clients included
    await nodejs.call("serverEmit", nsp=NSP, to=["room1"], event="news", args=["node", payload])
    for name in clients:
        (got,) = await nodejs.call("next", name=name, event="news")
        assert plain(got) == ["node", payload], name
    for inbox in inboxes:
        assert plain(await inbox.get()) == ("node", payload)

    # socketsvc (handler API) -> everyone in the room, Node's clients included
    assert await pys[0].call("shout", ("room1", "news", payload), namespace=NSP, timeout=5)
    for name in clients:
        (got,) = await nodejs.call("next", name=name, event="news")
        assert plain(got) == [payload], name
    for inbox in inboxes:
        assert plain(await inbox.get()) == payload

    # each once: a marker after, and nothing else before it
    await nodejs.call("serverEmit", nsp=NSP, to=["room1"], event="news", args=["end"])
    for name in clients:
        (got,) = await nodejs.call("next", name=name, event="news")
        assert plain(got) == ["end"]
        assert await nodejs.call("received", name=name, event="news") == []
    for inbox in inboxes:
        assert plain(await inbox.get()) == "end"
        assert inbox.so_far() == []


async def test_except_and_volatile_cross_both_ways(
    nodejs: NodeNode, svc: TestServer, connect_to: ConnectTo
) -> None:
    await js_client(nodejs, "n1", nodejs.urls["json"], "json")
    await js_client(nodejs, "n2", nodejs.urls["msgpack"], "msgpack")
    py_in = await connect_to(svc, "msgpack", ns=NSP)
    py_out = await connect_to(svc, "json", ns=NSP)
    got_in, got_out = Inbox(py_in, "note", NSP), Inbox(py_out, "note", NSP)
    for name in ("n1", "n2"):
        await nodejs.call("clientAsk", name=name, event="enter", args=["all"])
    await enter(py_in, "all")
    await enter(py_out, "all")
    await enter(py_out, "quiet")
    await nodejs.call("clientAsk", name="n2", event="enter", args=["quiet"])

    await nodejs.call(
        "serverEmit",
        nsp=NSP,
        to=["all"],
        event="note",
        args=["v"],
        volatile=True,
        **{"except": ["quiet"]},
    )
    assert plain(await got_in.get()) == "v"
    assert plain((await nodejs.call("next", name="n1", event="note"))[0]) == ["v"]
    await nodejs.call("serverEmit", nsp=NSP, to=["all"], event="note", args=["last"])
    assert plain(await got_out.get()) == "last"  # "v" skipped it: it is in "quiet"
    assert plain((await nodejs.call("next", name="n2", event="note"))[0]) == ["last"]
    assert plain((await nodejs.call("next", name="n1", event="note"))[0]) == ["last"]

    # socketsvc -> Node: skip_sid becomes Node's except; volatile stays volatile
    n1 = await nodejs.call("clientAsk", name="n1", event="state", args=[])
    sio = svc.app[SIO]
    await sio.emit("note", "from svc", to="all", skip_sid=n1["id"], namespace=NSP)
    assert plain((await nodejs.call("next", name="n2", event="note"))[0]) == ["from svc"]
    await sio.manager.emit("note", "vol", namespace=NSP, room="all", volatile=True)
    assert plain((await nodejs.call("next", name="n1", event="note"))[0]) == ["vol"]
    assert plain((await nodejs.call("next", name="n2", event="note"))[0]) == ["vol"]
    assert await nodejs.call("received", name="n1", event="note") == []  # "from svc" skipped n1


async def test_node_fetch_join_leave_disconnect_include_socketsvc_sockets(
    nodejs: NodeNode, svc: TestServer, connect_to: ConnectTo
) -> None:
    await js_client(nodejs, "n", nodejs.url, "json")
    await nodejs.call("clientAsk", name="n", event="enter", args=["team"])
    py = await connect_to(svc, "msgpack", ns=NSP)
    await enter(py, "team")
    sid = py.get_sid(NSP)

    started = time.monotonic()
    fetched = await nodejs.call("fetchSockets", nsp=NSP, to=["team"])
    assert time.monotonic() - started < 4  # socketsvc answered: Node did not wait out 5 s
    mine = [s for s in fetched if s["id"] == sid]
    assert len(fetched) == 2 and len(mine) == 1
    assert sorted(mine[0]["rooms"]) == sorted([sid, "team"])
    assert mine[0]["data"] == {"from": "socketsvc", "name": None}

    if nodejs.adapter == "classic":  # the classic adapter's allRooms() asks every node too
        assert {"team", sid} <= set(await nodejs.call("allRooms", nsp=NSP))

    await nodejs.call("socketsJoin", nsp=NSP, to=["team"], rooms=["extra"])
    await rooms_become(py, ["extra", "team"])
    await nodejs.call("socketsLeave", nsp=NSP, to=["extra"], rooms=["team"])
    await rooms_become(py, ["extra"])

    gone = asyncio.Event()
    py.on("disconnect", lambda *args: gone.set(), namespace=NSP)
    await nodejs.call("disconnectSockets", nsp=NSP, to=["extra"])
    await asyncio.wait_for(gone.wait(), 5)
    # (Node applies its own disconnectSockets when its request comes back from Redis)
    assert await nodejs.call("next", name="n", event="disconnect") == [["io server disconnect"]]
    assert await nodejs.call("fetchSockets", nsp=NSP, to=["extra"]) == []


async def test_server_side_events_and_acked_broadcasts_both_ways(
    nodejs: NodeNode, svc: TestServer, connect_to: ConnectTo
) -> None:
    await js_client(nodejs, "n", nodejs.urls["msgpack"], "msgpack")
    py = await connect_to(svc, "json", ns=NSP)
    py.on("ask", lambda *args: {"answer": "py", "args": list(args)}, namespace=NSP)

    # Node -> socketsvc's handler, without and with an ack
    await nodejs.call("serverSideEmit", nsp=NSP, event="hello", args=["plain", BLOB])
    answers = await nodejs.call("serverSideEmitWithAck", nsp=NSP, event="question", args=[1])
    assert sorted(a["node"] for a in answers) == ["node-msgpack", "socketsvc"]
    assert {"node": "socketsvc", "event": "question", "args": [1]} in answers
    # as the Node nodes get it: the classic adapter sends server-side events as JSON
    as_json = {"type": "Buffer", "data": list(BLOB)} if nodejs.adapter == "classic" else BLOB
    assert ("/mixed", "hello", ["plain", as_json]) in MixedNamespace.received
    node_got = [e for e in await nodejs.call("serverEvents") if e["event"] == "hello"]
    assert node_got == [
        {"nsp": NSP, "event": "hello", "args": ["plain", as_json], "server": "msgpack"}
    ]
    # an event socketsvc has no handler for is still answered, at once
    started = time.monotonic()
    answers = await nodejs.call("serverSideEmitWithAck", nsp=NSP, event="unknown", args=[])
    (answer,) = [a for a in answers if "error" in a]
    assert answer["error"]["code"] == "unknown_event"
    assert time.monotonic() - started < 4

    # socketsvc's handler API -> Node's io.on(...)
    assert await py.call("tell", ("hello", "to node", BLOB), namespace=NSP, timeout=5)
    answers = await py.call("ask", ("question", 7), namespace=NSP, timeout=5)
    assert sorted(answers, key=str) == [
        {"node": f"node-{parser}", "event": "question", "args": [7]}
        for parser in ("json", "msgpack")
    ]
    events = await nodejs.call("serverEvents")
    for parser in ("json", "msgpack"):
        hello = {"nsp": NSP, "event": "hello", "args": ["to node", BLOB], "server": parser}
        assert hello in events

    # socketsvc's call() to a client of a Node node: its ack comes back through Redis
    node_sid = (await nodejs.call("clientAsk", name="n", event="state", args=[]))["id"]
    answer = await svc.app[SIO].call("ask", "to n", to=node_sid, namespace=NSP, timeout=5)
    assert answer == {"answer": "n", "args": ["to n"]}

    # Node's emitWithAck broadcast gets the answers of socketsvc's clients too
    responses = await nodejs.call("serverEmitWithAck", nsp=NSP, event="ask", args=["q", BLOB])
    assert sorted(r["answer"] for r in responses) == ["n", "py"]
    assert {"answer": "py", "args": ["q", BLOB]} in responses


async def test_socketsvc_fetch_sockets_reaches_node(
    nodejs: NodeNode, svc: TestServer, connect_to: ConnectTo
) -> None:
    node_sid = await js_client(nodejs, "n", nodejs.url, "json")
    await nodejs.call("clientAsk", name="n", event="enter", args=["crew"])
    py = await connect_to(svc, "msgpack", ns=NSP)
    await enter(py, "crew")
    found = await py.call("fetch", ("crew", None), namespace=NSP, timeout=5)
    assert {s["id"] for s in found} == {node_sid, py.get_sid(NSP)}
    theirs = next(s for s in found if s["id"] == node_sid)
    assert theirs["data"] == {"from": "node", "name": "n"}
    assert theirs["rooms"] == sorted([node_sid, "crew"])
    only_node = await py.call("fetch", ("crew", py.get_sid(NSP)), namespace=NSP, timeout=5)
    assert [s["id"] for s in only_node] == [node_sid]


@CLASSIC
async def test_the_redis_emitter_drives_socketsvc(
    nodejs: NodeNode, svc: TestServer, connect_to: ConnectTo
) -> None:
    """``@socket.io/redis-emitter`` 5.1: emit, to/except, volatile, socketsJoin/Leave,
    disconnectSockets and serverSideEmit reach socketsvc's clients and handler."""
    py = await connect_to(svc, "msgpack", ns=NSP)
    other = await connect_to(svc, "json", ns=NSP)
    news, other_news = Inbox(py, "news", NSP), Inbox(other, "news", NSP)
    await enter(py, "a")
    await enter(other, "a")
    await enter(other, "b")

    await nodejs.call("emitterEmit", nsp=NSP, event="news", args=["all", BLOB])
    assert await news.get() == ("all", BLOB)
    assert await other_news.get() == ("all", BLOB)
    await nodejs.call(
        "emitterEmit", nsp=NSP, to=["a"], event="news", args=["a"], **{"except": ["b"]}
    )
    await nodejs.call("emitterEmit", nsp=NSP, to=["a"], event="news", args=["vol"], volatile=True)
    assert await news.get() == "a"
    assert await news.get() == "vol"
    assert await other_news.get() == "vol"  # "a" left it out: it is in "b"

    await nodejs.call("emitterJoin", nsp=NSP, to=["b"], rooms=["c"])
    await nodejs.call("emitterLeave", nsp=NSP, to=["c"], rooms=["a"])
    await nodejs.call("emitterEmit", nsp=NSP, to=["a"], event="news", args=["only py"])
    assert await news.get() == "only py"
    assert (await other.call("state", namespace=NSP, timeout=5))["rooms"] == ["b", "c"]

    await nodejs.call("emitterServerSideEmit", nsp=NSP, event="hello", args=["from emitter"])
    gone = asyncio.Event()
    other.on("disconnect", lambda *args: gone.set(), namespace=NSP)
    await nodejs.call("emitterDisconnect", nsp=NSP, to=["c"])
    await asyncio.wait_for(gone.wait(), 5)
    assert ("/mixed", "hello", ["from emitter"]) in MixedNamespace.received
    assert py.connected


@CLASSIC
async def test_bad_input_is_counted_answered_and_harms_nobody(
    nodejs: NodeNode,
    svc: TestServer,
    connect_to: ConnectTo,
    redis_url: str,
    key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    py = await connect_to(svc, "json", ns=NSP)
    news = Inbox(py, "news", NSP)
    request = f"{key}-request#{NSP}#"
    response = f"{key}-response#{NSP}#"
    async with aioredis.from_url(redis_url) as r, r.pubsub() as answers:
        await answers.subscribe(response)
        # (on a namespace Node does not serve: Node's own adapter dies of an undecodable
        # broadcast, an uncaught exception in its Redis listener)
        await r.publish(f"{key}#/nowhere#", b"\xc1 garbage")
        await r.publish(f"{key}#/nowhere#", b"\x91\xa3uid")
        await r.publish(
            f"{key}#/nowhere#", _packed(["x", {"type": 2, "data": ["e"], "nsp": "/nowhere"}, {}])
        )
        await r.publish(request, b"{not json")
        await r.publish(request, b'{"type": 99, "uid": "newer", "requestId": "r99"}')
        # the newer adapter's request is still answered, so its sender counts this node
        deadline = time.monotonic() + 5
        reply = None
        while reply is None and time.monotonic() < deadline:
            message = await answers.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is not None:
                reply = message["data"]
        assert reply is not None and b"r99" in reply
    await nodejs.call("emitterEmit", nsp=NSP, event="news", args=["still fine"])
    assert await news.get() == "still fine"
    async with aiohttp.ClientSession() as http, http.get(svc.make_url("/metrics")) as m:
        text = await m.text()
    for cause in (
        "undecodable broadcast",
        "not a broadcast",
        "unknown namespace",
        "request type 99",
    ):
        assert f'socketsvc_bus_ignored_total{{cause="{cause}"}} 1' in text, cause
    assert (
        sum(
            "ignoring input on socket.io channels: request type 99" in r.getMessage()
            for r in caplog.records
        )
        == 1
    )


async def test_node_waits_for_nobody_when_socketsvc_is_gone(
    nodejs: NodeNode, start_server: StartServer, redis_url: str, key: str
) -> None:
    """A stopped socketsvc node unsubscribes: Node counts only the nodes that are there."""
    server = await start_server(**cluster_settings(nodejs, redis_url))
    assert await nodejs.call("serverCount", nsp=NSP) == 3  # two Node nodes and socketsvc
    await server.close()
    assert await nodejs.call("serverCount", nsp=NSP) == 2
    started = time.monotonic()
    answers = await nodejs.call("serverSideEmitWithAck", nsp=NSP, event="question", args=[])
    assert [a["node"] for a in answers] == ["node-msgpack"]
    assert time.monotonic() - started < 4
    with pytest.raises(NodeFailed):
        await nodejs.call("nope")


def _packed(value: Any) -> bytes:
    return bytes(msgpack.packb(value, use_bin_type=True))


@STREAMS
@pytest.mark.parametrize("parser", ["json", "msgpack"])
async def test_a_client_dropped_by_node_is_recovered_on_socketsvc(
    nodejs: NodeNode, svc: TestServer, connect_to: ConnectTo, parser: str
) -> None:
    """★ The stock client's own recovery (its pid and last offset) across the two kinds of
    node: same id, rooms and data, and what it missed, with offsets, in order."""
    sid = await js_client(nodejs, "c", nodejs.urls[parser], parser)
    await nodejs.call("clientAsk", name="c", event="enter", args=["r"])
    await nodejs.call("serverEmit", nsp=NSP, to=["r"], event="news", args=["before"])
    (before,) = await nodejs.call("next", name="c", event="news")
    assert before[0] == "before" and is_offset(before[1])

    await nodejs.call("dropTransport", name="c")
    await nodejs.call("next", name="c", event="disconnect")
    sio = svc.app[SIO]
    await sio.emit("news", ("missed 1", BLOB), to="r", namespace=NSP)
    await nodejs.call("serverEmit", nsp=NSP, to=["r"], event="news", args=["missed 2"])
    await nodejs.call("serverEmit", nsp=NSP, to=["elsewhere"], event="news", args=["not for c"])

    back = await nodejs.call("reconnect", name="c", url=base(svc) + NSP)
    assert back == {"id": sid, "recovered": True}
    first, second = await nodejs.call("next", name="c", event="news", count=2)
    assert first[:2] == ["missed 1", BLOB] and is_offset(first[2])
    assert second[0] == "missed 2" and is_offset(second[1])
    assert entry(first[2]) < entry(second[1])  # in stream order
    state = await nodejs.call("clientAsk", name="c", event="state", args=[])
    assert state == {"id": sid, "rooms": ["r"], "recovered": True}
    fetched = await nodejs.call("fetchSockets", nsp=NSP, to=["r"])
    assert [(s["id"], s["data"]) for s in fetched] == [(sid, {"from": "node", "name": "c"})]
    # and it is a member of the cluster on its new node: live emits reach it
    await nodejs.call("serverEmit", nsp=NSP, to=["r"], event="news", args=["live"])
    (live,) = await nodejs.call("next", name="c", event="news")
    assert live[0] == "live"


@STREAMS
@pytest.mark.parametrize("parser", ["json", "msgpack"])
async def test_a_client_dropped_by_socketsvc_is_recovered_on_node(
    nodejs: NodeNode, svc: TestServer, parser: str
) -> None:
    sid = await js_client(nodejs, "c", base(svc), parser)
    assert await nodejs.call("clientAsk", name="c", event="enter", args=["r"]) is True
    await svc.app[SIO].emit("news", "before", to="r", namespace=NSP)
    (before,) = await nodejs.call("next", name="c", event="news")
    assert before[0] == "before" and is_offset(before[1])

    await nodejs.call("dropTransport", name="c")
    await nodejs.call("next", name="c", event="disconnect")
    sio = svc.app[SIO]
    await eventually_gone(sio, sid)
    await nodejs.call("serverEmit", nsp=NSP, to=["r"], event="news", args=["missed", BLOB])
    await sio.emit("news", "missed too", to="r", namespace=NSP)

    back = await nodejs.call("reconnect", name="c", url=nodejs.urls[parser] + NSP)
    assert back == {"id": sid, "recovered": True}
    first, second = await nodejs.call("next", name="c", event="news", count=2)
    assert first[:2] == ["missed", BLOB] and is_offset(first[2])
    assert second[0] == "missed too" and is_offset(second[1])
    state = await nodejs.call("clientAsk", name="c", event="state", args=[])
    assert state["id"] == sid and sorted(state["rooms"]) == sorted([sid, "r"])
    assert state["recovered"] is True


async def eventually_gone(sio: Any, sid: str) -> None:
    """Wait until socketsvc has seen the transport close (and kept the session)."""
    deadline = time.monotonic() + 5
    while sio.manager.is_connected(sid, NSP):
        assert time.monotonic() < deadline, "socketsvc never saw the client go"
        await asyncio.sleep(0.01)


async def test_socketsvcs_own_emitter_drives_node_and_socketsvc(
    nodejs: NodeNode, svc: TestServer, connect_to: ConnectTo, redis_url: str
) -> None:
    """socketsvc's Emitter in the cluster's protocol reaches the Node nodes' clients and
    socketsvc's alike, binary included; close_room empties the room everywhere."""
    await js_client(nodejs, "n", nodejs.urls["msgpack"], "msgpack")
    await nodejs.call("clientAsk", name="n", event="enter", args=["r"])
    py = await connect_to(svc, "json", ns=NSP)
    news = Inbox(py, "news", NSP)
    await enter(py, "r")
    protocol = PROTOCOLS[nodejs.adapter]
    async with Emitter(redis_url, prefix=nodejs.key, protocol=protocol) as emitter:
        await emitter.emit("news", ("e", BLOB), namespace=NSP, to="r")
        (got,) = await nodejs.call("next", name="n", event="news")
        assert plain(got) == ["e", BLOB]
        assert plain(await news.get()) == ("e", BLOB)
        await emitter.close_room("r", namespace=NSP)
        await rooms_become(py, [])
        state = await nodejs.call("clientAsk", name="n", event="state", args=[])
        assert state["rooms"] == [state["id"]]


@CLASSIC
async def test_the_pre_2016_emitter_format_is_accepted(
    nodejs: NodeNode, svc: TestServer, connect_to: ConnectTo, redis_url: str, key: str
) -> None:
    """What rase/socket.io-php-emitter and yosuke-furukawa/socket.io-go-emitter publish:
    the same array, without ``except``, on ``<key>#emitter`` (Node's adapter ignores it)."""
    py = await connect_to(svc, "msgpack", ns=NSP)
    news = Inbox(py, "news", NSP)
    await enter(py, "old")
    packet = {"type": 2, "data": ["news", "from php", BLOB], "nsp": NSP}
    async with aioredis.from_url(redis_url) as r:
        await r.publish(
            f"{key}#emitter", _packed(["emitter", packet, {"rooms": ["old"], "flags": {}}])
        )
    assert await news.get() == ("from php", BLOB)
