"""Several nodes on one Redis: rooms, broadcasts, members, the publish API and the emitter.

Two ``create_app`` instances with ``manager = "redis"`` run in the test's event loop on a real
``redis-server``; python-socketio clients connect to each. Every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp.test_utils import TestServer
from redis import asyncio as aioredis

from socketsvc.app.factory import BACKENDS, SIO
from socketsvc.errors import Unencodable
from socketsvc.scaleout import bus, redis_manager
from socketsvc.scaleout.emitter import Emitter
from socketsvc.sio.once import Once
from tests import raw_client
from tests.app.test_metrics import scrape
from tests.cluster import Client
from tests.conftest import Inbox, StartServer, eventually
from tests.recovering import wait_for
from tests.tools import checked_in_another_run

CHAT = "/chat"
API_KEY = "test-key-0123456789"

Node = TestServer


@pytest.fixture
def start_node(
    start_server: StartServer, redis_url: str, redis_prefix: str
) -> Callable[..., Awaitable[Node]]:
    async def start(**overrides: Any) -> Node:
        values: dict[str, Any] = {
            "manager": "redis",
            "redis_url": redis_url,
            "redis_prefix": redis_prefix,
            "api_key": API_KEY,
        }
        values.update(overrides)
        return await start_server(**values)

    return start


async def call(client: socketio.AsyncClient, event: str, data: Any) -> Any:
    return await client.call(event, data, namespace=CHAT, timeout=5)


async def test_room_broadcast_crosses_nodes(start_node: Any, client: Client) -> None:
    a, b = await start_node(), await start_node()
    alice = await client(a, "json", "websocket")
    bob = await client(b, "msgpack", "polling")
    to_alice, to_bob = Inbox(alice, "message"), Inbox(bob, "message")
    joined = Inbox(alice, "joined")
    await call(alice, "join", {"room": "r", "name": "alice"})
    await call(bob, "join", {"room": "r", "name": "bob"})
    assert await joined.get() == {"room": "r", "name": "bob"}

    ack = await call(alice, "message", {"room": "r", "text": "from A"})
    got = await to_bob.get()
    assert (got["id"], got["name"], got["text"]) == (ack["id"], "alice", "from A")
    await call(bob, "message", {"room": "r", "text": "from B"})
    # skip_sid holds across nodes: the first message alice gets is bob's, not her own echo.
    assert (await to_alice.get())["text"] == "from B"


async def test_a_node_delivers_its_own_emits_once(start_node: Any, client: Client) -> None:
    """A node hears its own publications back from Redis and must drop them: its clients
    already got the emit locally. Room events, volatile ones and server emits alike."""
    a, b = await start_node(), await start_node()
    alice, amy, bob = await client(a, "json"), await client(a, "msgpack"), await client(b)
    to_amy, typing_to_amy, notes = Inbox(amy, "message"), Inbox(amy, "typing"), Inbox(amy, "note")
    to_bob, typing_to_bob, notes_to_bob = (
        Inbox(bob, "message"),
        Inbox(bob, "typing"),
        Inbox(bob, "note"),
    )
    for c, name in ((alice, "alice"), (amy, "amy"), (bob, "bob")):
        await call(c, "join", {"room": "r", "name": name})
    await call(alice, "message", {"room": "r", "text": "one"})
    await call(alice, "typing", {"room": "r"})
    await a.app[SIO].emit("note", "from node a", namespace=CHAT, to="r")
    assert (await to_amy.get())["text"] == "one"
    assert await typing_to_amy.get() == {"room": "r", "name": "alice"}
    assert await notes.get() == "from node a"
    # Once node b has delivered node a's three publications, they are in Redis ahead of
    # anything node b publishes next, and node a, subscribed to the same channel, hears them
    # back in that order: a second copy would reach amy before the markers below.
    assert (await to_bob.get())["text"] == "one"
    assert await typing_to_bob.get() == {"room": "r", "name": "alice"}
    assert await notes_to_bob.get() == "from node a"
    await call(bob, "typing", {"room": "r"})
    await b.app[SIO].emit("note", "marker", namespace=CHAT, to="r")
    await call(bob, "message", {"room": "r", "text": "marker"})
    assert (await to_amy.get())["text"] == "marker"
    assert typing_to_amy.so_far() == [{"room": "r", "name": "bob"}]
    assert notes.so_far() == ["marker"]


async def test_binary_and_exact_values_survive_the_bus(start_node: Any, client: Client) -> None:
    a, b = await start_node(), await start_node()
    json_client = await client(b, "json")
    msgpack_client = await client(b, "msgpack")
    inboxes = [Inbox(json_client, "blob"), Inbox(msgpack_client, "blob")]
    for c, name in ((json_client, "j"), (msgpack_client, "m")):
        await call(c, "join", {"room": "bin", "name": name})
    payload = {"raw": b"\x00\xff" * 1000, "nested": [{"b": b"x"}, 2**53 - 1, "ü"]}
    await a.app[SIO].emit("blob", payload, namespace=CHAT, to="bin")
    for inbox in inboxes:
        assert await inbox.get() == payload


async def test_what_one_format_cannot_carry_still_crosses_the_bus_to_the_others(
    start_node: Any, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """A lone surrogate reaches JSON clients on the other node (escaped, as JSON.stringify
    writes it); its msgpack clients cannot receive it, which costs nobody else anything."""
    a, b = await start_node(), await start_node()
    json_client, msgpack_client = await client(b, "json"), await client(b, "msgpack")
    inboxes = [Inbox(json_client, "blob"), Inbox(msgpack_client, "blob")]
    for c, name in ((json_client, "j"), (msgpack_client, "m")):
        await call(c, "join", {"room": "odd", "name": name})
    await a.app[SIO].emit("blob", {"text": "a\udfffb"}, namespace=CHAT, to="odd")
    assert await inboxes[0].get() == {"text": "a\udfffb"}
    await a.app[SIO].emit("blob", {"text": "fine"}, namespace=CHAT, to="odd")  # bus still up
    for inbox in inboxes:  # the msgpack client's first: the refused one never came
        assert await inbox.get() == {"text": "fine"}
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_members_are_cluster_wide(start_node: Any, client: Client) -> None:
    a, b = await start_node(), await start_node()
    alice, bob = await client(a), await client(b)
    assert (await call(alice, "join", {"room": "r", "name": "alice"}))["members"] == ["alice"]
    assert (await call(bob, "join", {"room": "r", "name": "bob"}))["members"] == ["alice", "bob"]
    assert (await call(alice, "members", {"room": "r"}))["members"] == ["alice", "bob"]
    left = Inbox(alice, "left")
    await call(bob, "leave", {"room": "r"})
    assert await left.get() == {"room": "r", "name": "bob"}
    assert (await call(alice, "members", {"room": "r"}))["members"] == ["alice"]


async def test_a_member_leaving_a_node_that_keeps_others_is_gone_everywhere(
    start_node: Any, client: Client
) -> None:
    a, b = await start_node(), await start_node()
    alice, amy, bob = await client(a), await client(a), await client(b)
    for c, name in ((alice, "alice"), (amy, "amy"), (bob, "bob")):
        await call(c, "join", {"room": "r", "name": name})
    assert (await call(bob, "members", {"room": "r"}))["members"] == ["alice", "amy", "bob"]
    await call(amy, "leave", {"room": "r"})
    assert (await call(bob, "members", {"room": "r"}))["members"] == ["alice", "bob"]
    await amy.disconnect()
    await call(alice, "leave", {"room": "r"})
    assert (await call(bob, "members", {"room": "r"}))["members"] == ["bob"]


async def test_members_of_a_disconnected_client_leave_everywhere(
    start_node: Any, client: Client
) -> None:
    a, b = await start_node(), await start_node()
    alice, bob = await client(a), await client(b)
    await call(alice, "join", {"room": "r", "name": "alice"})
    await call(bob, "join", {"room": "r", "name": "bob"})
    left = Inbox(alice, "left")
    await bob.disconnect()
    assert await left.get() == {"room": "r", "name": "bob"}
    assert (await call(alice, "members", {"room": "r"}))["members"] == ["alice"]


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
async def test_a_node_reaches_a_client_on_another_node_by_its_sid(
    start_node: Any, client: Client, serializer: str
) -> None:
    """What python-socketio sends over the bus itself, as the handler API uses it for a sid
    on another node: a call gets that client's answer; putting it in a room, taking it out,
    closing the room and disconnecting it all act on the node that has it."""
    a, b = await start_node(), await start_node()
    bob = await client(b, serializer, "websocket")
    bob.on("ask", lambda question: f"answer to {question}", namespace=CHAT)
    news = Inbox(bob, "news")
    sid, sio = bob.get_sid(CHAT), a.app[SIO]

    def in_vip() -> bool:  # on bob's node
        return "vip" in b.app[SIO].rooms(sid, namespace=CHAT)

    assert await sio.call("ask", "q", to=sid, namespace=CHAT, timeout=5) == "answer to q"
    await sio.enter_room(sid, "vip", namespace=CHAT)
    await eventually(in_vip)
    await sio.emit("news", 1, to="vip", namespace=CHAT)
    assert await news.get() == 1
    await sio.leave_room(sid, "vip", namespace=CHAT)
    await eventually(lambda: not in_vip())
    await sio.enter_room(sid, "vip", namespace=CHAT)
    await eventually(in_vip)
    await sio.close_room("vip", namespace=CHAT)
    await eventually(lambda: not in_vip())
    await sio.disconnect(sid, namespace=CHAT)
    await eventually(lambda: not bob.connected)


async def test_a_call_the_bus_cannot_carry_is_logged_once_per_cause(
    start_node: Any, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """A call to a client on another node whose data the bus cannot carry (a type no format
    has, an integer past 64 bits) is not published: one line per cause (each type is one),
    naming it, however often it is tried; the caller's wait ends at its timeout."""
    a, b = await start_node(), await start_node()
    bob = await client(b)
    sid, sio = bob.get_sid(CHAT), a.app[SIO]
    for data in ({1, 2}, 2**70, {3}, 2**71, frozenset({4})):
        with pytest.raises(socketio.exceptions.TimeoutError):
            await sio.call("ask", data, to=sid, namespace=CHAT, timeout=0.1)
    lines = [r.getMessage() for r in caplog.records if "not published" in r.msg]
    assert [line.split(": ", 1)[0] for line in lines] == ["not published to other nodes"] * 3
    said = [line.split(": ", 1)[1] for line in lines]
    assert said[0].startswith("a set cannot be sent: send str"), said
    assert said[1].startswith("cannot send to other nodes clients unchanged: Integer"), said
    assert said[2].startswith("a frozenset cannot be sent: send str"), said


async def test_what_is_no_bus_message_is_counted_and_logged_once_per_cause(
    start_node: Any,
    client: Client,
    redis_url: str,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Anything else on the bus channel (garbage, another version's or an unknown method's
    message) is ignored: counted by cause in ``bus_ignored_total``, one line per cause, and
    the node goes on delivering."""
    a, b = await start_node(), await start_node()
    alice, bob = await client(a), await client(b)
    await call(alice, "join", {"room": "r", "name": "alice"})
    await call(bob, "join", {"room": "r", "name": "bob"})
    bad = {
        "undecodable message": b"\xc1 garbage",
        "not a map": bus.pack([1, 2]),
        "unsupported version": bus.pack({"method": "emit", "v": 99}),
        "unknown method": bus.encode({"method": "teleport"}),
    }
    redis = aioredis.Redis.from_url(redis_url)
    try:
        for _ in range(2):
            for raw in bad.values():
                await redis.publish(bus.channel(redis_prefix), raw)
    finally:
        await redis.aclose()
    to_bob = Inbox(bob, "message")
    await call(alice, "message", {"room": "r", "text": "still fine"})
    assert (await to_bob.get())["text"] == "still fine"  # after the bad ones, on one channel
    metrics = await scrape(b.make_url("/metrics"))
    for cause in bad:
        assert metrics.value("socketsvc_bus_ignored_total", cause=cause) == 2, cause
    lines = [r.getMessage() for r in caplog.records if r.msg.startswith("ignoring input on")]
    channel = bus.channel(redis_prefix)
    assert sorted(line.split(": ", 1)[0] for line in lines) == [f"ignoring input on {channel}"] * 8
    assert len(set(lines)) == len(bad)  # each cause once on each of the two nodes
    details = {f"{channel}: unsupported version (99)", f"{channel}: unknown method ('teleport')"}
    assert all(any(detail in line for line in lines) for detail in details), lines


async def bob_in_r_on_another_node(start_node: Any, client: Client) -> tuple[Any, Inbox]:
    """Two nodes; bob joins room ``r`` on the second. The first node, and bob's notices."""
    a, b = await start_node(), await start_node()
    bob = await client(b)
    await call(bob, "join", {"room": "r", "name": "bob"})
    return a, Inbox(bob, "notice")


async def test_a_bus_that_stops_publishes_what_its_outbox_holds_first(
    start_node: Any, client: Client, redis_url: str
) -> None:
    """Emits a node accepted just before its bus stops still reach the other nodes' clients,
    also when Redis is slow to answer then: the stop publishes what waits in the outbox
    (for up to a second) before it closes Redis."""
    a, notices = await bob_in_r_on_another_node(start_node, client)
    redis = aioredis.Redis.from_url(redis_url)
    try:
        await redis.execute_command("CLIENT", "PAUSE", 300, "WRITE")
        for n in range(300):
            await a.app[SIO].emit("notice", n, to="r", namespace=CHAT)
        await a.app[BACKENDS].manager.stop()
    finally:
        await redis.aclose()
    assert [await notices.get() for _ in range(300)] == list(range(300))


async def test_a_bus_whose_redis_does_not_answer_still_stops(
    start_node: Any, redis_url: str
) -> None:
    """A node whose Redis hangs (here: it pauses every write for 20 s) still shuts down: the
    stop gives the outbox a second, and the Redis client's socket timeout ends a publish
    that hangs."""
    a = await start_node()
    redis = aioredis.Redis.from_url(redis_url)
    try:
        await redis.execute_command("CLIENT", "PAUSE", 20_000, "WRITE")
        await a.app[SIO].emit("notice", 1, to="r", namespace=CHAT)
        await asyncio.wait_for(a.app[BACKENDS].manager.stop(), 10)
    finally:
        await redis.execute_command("CLIENT", "UNPAUSE")
        await redis.aclose()


async def subscribers(url: str, channel: str, expected: int) -> bool:
    redis = aioredis.Redis.from_url(url)
    try:
        [(_, count)] = await redis.pubsub_numsub(channel)
        return bool(count == expected)
    finally:
        await redis.aclose()


async def test_a_bus_that_failed_to_publish_subscribes_again_and_is_ready(
    start_node: Any, client: Client, redis_url: str, redis_prefix: str
) -> None:
    """Redis stops answering writes long enough for a publish to fail, while the node's
    subscription stays open: the node counts the outage (``/readyz`` 503), and once Redis
    answers it subscribes again, is ready, and its emits cross the bus again (without a new
    subscription it stayed down, dropping every emit)."""
    a, notices = await bob_in_r_on_another_node(start_node, client)
    redis = aioredis.Redis.from_url(redis_url)
    try:
        await redis.execute_command("CLIENT", "PAUSE", 30_000, "WRITE")
        await a.app[SIO].emit("notice", "lost", to="r", namespace=CHAT)
        await asyncio.sleep(0.2)  # the publisher waits on Redis with it
        await a.app[SIO].emit("notice", "lost", to="r", namespace=CHAT)  # waits in the outbox
        await eventually(lambda: a.app[BACKENDS].manager.link.down, timeout=15)
        assert (await readyz(a))[0] == 503
    finally:
        await redis.execute_command("CLIENT", "UNPAUSE")
        await redis.aclose()
    await eventually(lambda: not a.app[BACKENDS].manager.link.down, timeout=10)
    assert await readyz(a) == (200, {"status": "ready"})
    # and the subscription it left is closed: one per node
    await wait_for(lambda: subscribers(redis_url, bus.channel(redis_prefix), 2))
    await a.app[SIO].emit("notice", "after", to="r", namespace=CHAT)
    got = await notices.get()
    while got == "lost":  # Redis ran the paused PUBLISH after all, once it answered again
        got = await notices.get()
    assert got == "after"


async def test_a_burst_past_the_outbox_is_dropped_and_counted(
    start_node: Any, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While Redis does not answer, emits wait in the node's outbox (``OUTBOX_LIMIT``); a
    burst past it is dropped, never waited for, and every message is counted once: published
    or dropped."""
    monkeypatch.setattr(redis_manager, "OUTBOX_LIMIT", 5)
    a = await start_node()
    before = await scrape(a.make_url("/metrics"))
    redis = aioredis.Redis.from_url(redis_url)
    try:
        await redis.execute_command("CLIENT", "PAUSE", 500, "ALL")
        for n in range(50):
            await a.app[SIO].emit("news", n, to="r", namespace=CHAT)
    finally:
        await redis.aclose()

    async def counted() -> tuple[float, float]:
        m = await scrape(a.make_url("/metrics"))
        return tuple(  # type: ignore[return-value]
            m.value(name) - before.value(name)
            for name in ("socketsvc_bus_published_total", "socketsvc_bus_dropped_total")
        )

    async def all_counted() -> bool:
        return sum(await counted()) >= 50

    await wait_for(all_counted)
    published, dropped = await counted()
    assert published + dropped == 50
    assert dropped > 0  # the outbox and the batch being sent (the first emits) got through


# -- POST /api/v1/emit ----------------------------------------------------------------------


async def post(node: Node, body: Any, key: str | None = API_KEY) -> tuple[int, Any]:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    data = body if isinstance(body, bytes) else None
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            node.make_url("/api/v1/emit"),
            json=None if data is not None else body,
            data=data,
            headers=headers,
        ) as resp,
    ):
        text = await resp.text()
        return resp.status, json.loads(text) if resp.content_type == "application/json" else text


async def test_publish_api_delivers_on_every_node(start_node: Any, client: Client) -> None:
    a, b = await start_node(), await start_node()
    on_a, on_b, outside = await client(a), await client(b), await client(b)
    inboxes = [Inbox(c, "notice") for c in (on_a, on_b, outside)]
    for c, name in ((on_a, "a"), (on_b, "b")):
        await call(c, "join", {"room": "news", "name": name})
    body = {"namespace": CHAT, "room": "news", "event": "notice", "data": {"n": 1}}
    assert await post(a, body) == (202, {"status": "accepted"})
    assert await inboxes[0].get() == {"n": 1}
    assert await inboxes[1].get() == {"n": 1}

    everyone = {"namespace": CHAT, "event": "notice", "data": None}
    assert await post(b, everyone) == (202, {"status": "accepted"})
    # Null data is an event without arguments. It is the first notice for the client outside
    # the room: the room's notice, delivered on its node before this one, never reached it.
    for inbox in inboxes:
        assert await inbox.get() == ()


@pytest.mark.parametrize("key", [None, "wrong", "", API_KEY + "x"])
async def test_publish_api_refuses_missing_or_wrong_key(start_node: Any, key: str | None) -> None:
    node = await start_node()
    status, body = await post(node, {"namespace": "/", "event": "x", "data": 1}, key=key)
    assert status == 401
    assert body["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        ([1, 2], "body"),
        ({"event": "x", "data": 1}, "namespace"),
        ({"namespace": "chat", "event": "x", "data": 1}, "namespace"),
        ({"namespace": "/chat", "room": 5, "event": "x", "data": 1}, "room"),
        ({"namespace": "/chat", "data": 1}, "event"),
        ({"namespace": "/chat", "event": "connect", "data": 1}, "event"),
        ({"namespace": "/chat", "event": "x"}, "data"),
        ({"namespace": "/chat", "event": "x", "data": 1, "extra": 1}, "extra"),
    ],
)
async def test_publish_api_names_the_bad_field(start_node: Any, body: Any, field: str) -> None:
    node = await start_node()
    status, reply = await post(node, body)
    assert status == 400
    assert reply["error"]["message"].startswith(f"{field}:"), reply


async def test_publish_api_is_absent_without_a_key(start_server: StartServer) -> None:
    node = await start_server()
    status, _ = await post(node, {"namespace": "/", "event": "x", "data": 1})
    assert status == 404


# -- emitter and readiness ------------------------------------------------------------------


async def test_emitter_reaches_every_node(
    start_node: Any, client: Client, redis_url: str, redis_prefix: str
) -> None:
    a, b = await start_node(), await start_node()
    on_a, on_b = await client(a, "json"), await client(b, "msgpack")
    inboxes = [Inbox(on_a, "deploy"), Inbox(on_b, "deploy")]
    for c, name in ((on_a, "a"), (on_b, "b")):
        await call(c, "join", {"room": "ops", "name": name})
    async with Emitter(redis_url, prefix=redis_prefix) as emitter:
        assert (
            await emitter.emit("deploy", {"v": 2, "log": b"\x01\x02"}, namespace=CHAT, to="ops")
            == 2
        )
    for inbox in inboxes:
        assert await inbox.get() == {"v": 2, "log": b"\x01\x02"}


async def test_stock_python_socketio_emitter_is_accepted(
    start_node: Any, client: Client, redis_url: str, redis_prefix: str
) -> None:
    node = await start_node()
    c = await client(node)
    inbox = Inbox(c, "hello")
    await call(c, "join", {"room": "r", "name": "c"})
    stock = socketio.AsyncRedisManager(redis_url, channel=f"{redis_prefix}:bus", write_only=True)
    try:
        await stock.emit("hello", {"b": b"\x07"}, namespace=CHAT, room="r")
        assert await inbox.get() == {"b": b"\x07"}
    finally:
        await stock.redis.aclose()


async def readyz(node: Node) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(node.make_url("/readyz")) as resp:
        return resp.status, await resp.json()


async def test_readyz(start_server: StartServer, start_node: Any) -> None:
    assert await readyz(await start_server()) == (200, {"status": "ready"})
    assert await readyz(await start_node()) == (200, {"status": "ready"})
    unreachable = await start_node(redis_url="redis://127.0.0.1:1/0")
    status, body = await readyz(unreachable)
    assert status == 503
    down = "bus: Redis at redis://127.0.0.1:1/0 unreachable: ConnectionError: "
    assert any(r.startswith(down) for r in body["reasons"]), body["reasons"]


@pytest.mark.parametrize("volatile", [False, True], ids=["plain", "volatile"])
@pytest.mark.parametrize("data", [{"n": 1}, ("a", 2)], ids=["one-argument", "two-arguments"])
async def test_an_emit_reaches_its_room_on_other_nodes_but_not_skip_sid(
    start_node: Any, client: Client, data: Any, volatile: bool
) -> None:
    """On the node that receives it, an emit (plain or volatile: two paths) goes to its room
    but not to ``skip_sid``, with its arguments as they were sent; then one after it on the
    bus, to all."""
    a, b = await start_node(), await start_node()
    member, skipped, outsider = await client(b), await client(b, "msgpack"), await client(b)
    here = await client(a)  # on the emitting node, outside the room
    got: dict[str, list[Any]] = {"member": [], "skipped": [], "outsider": [], "here": []}
    for name, c in (
        ("member", member),
        ("skipped", skipped),
        ("outsider", outsider),
        ("here", here),
    ):
        c.on("ping", lambda *args, name=name: got[name].append(list(args)), namespace=CHAT)
    await call(member, "join", {"room": "r", "name": "member"})
    await call(skipped, "join", {"room": "r", "name": "skipped"})
    manager = a.app[SIO].manager
    skip = skipped.get_sid(CHAT)
    await manager.emit("ping", data, CHAT, room="r", skip_sid=skip, volatile=volatile)
    await manager.emit("ping", "end", CHAT)
    await eventually(lambda: all(inbox and inbox[-1] == ["end"] for inbox in got.values()))
    sent = list(data) if isinstance(data, tuple) else [data]
    end = [["end"]]
    assert got == {"member": [sent, ["end"]], "skipped": end, "outsider": end, "here": end}


async def test_a_local_only_emit_and_an_acked_emit_to_a_room_keep_their_options(
    start_node: Any, client: Client
) -> None:
    """``ignore_queue``: only this node's clients get it. An emit with an ack callback to a
    room (python-socketio's path across nodes): the room's clients on every node but
    ``skip_sid``, and an answer comes back. Then a plain emit, after both, to all."""
    a, b = await start_node(), await start_node()
    clients = {"here": await client(a), "there": await client(b), "skipped": await client(b)}
    got: dict[str, list[Any]] = {name: [] for name in clients}
    for name, c in clients.items():

        def ping(data: Any, name: str = name) -> str:
            got[name].append(data)
            return f"{name} got {data}"

        c.on("ping", ping, namespace=CHAT)
        await call(c, "join", {"room": "r", "name": name})
    answers: list[Any] = []
    sio = a.app[SIO]
    await sio.emit("ping", "local", namespace=CHAT, ignore_queue=True)
    skip = clients["skipped"].get_sid(CHAT)
    await sio.emit("ping", "acked", to="r", skip_sid=skip, namespace=CHAT, callback=answers.append)
    await sio.emit("ping", "end", namespace=CHAT)
    await eventually(lambda: all(inbox and inbox[-1] == "end" for inbox in got.values()))
    assert got == {"here": ["local", "acked", "end"], "there": ["acked", "end"], "skipped": ["end"]}
    # python-socketio calls a callback once, for the first answer (it forgets it then)
    await eventually(lambda: len(answers) == 1)
    assert answers[0] in ("here got acked", "there got acked")


async def test_an_emit_made_once_per_key_is_once_per_namespace_on_the_bus(
    start_node: Any,
) -> None:
    """Emits made once per key (``once=``) through the bus (namespaces without recovery): a
    retry with the same key on another node sends nothing, and the same key in another
    namespace is another emit."""
    a, b = await start_node(), await start_node()
    member = socketio.AsyncClient(reconnection=False)
    got: list[Any] = []
    member.on("ping", got.append, namespace=CHAT)
    member.on("ping", got.append, namespace="/test")
    try:
        await member.connect(str(b.make_url("/")), namespaces=[CHAT, "/test"], wait_timeout=5)
        for node, namespace, n in ((a, CHAT, 1), (b, CHAT, 2), (a, "/test", 3)):
            once = Once("retried-key", {"n": n}, 60)
            await node.app[SIO].manager.emit("ping", n, namespace, once=once)
        await a.app[SIO].emit("ping", "end", namespace=CHAT)
        await eventually(lambda: "end" in got and 3 in got)
        assert sorted(got, key=str) == [1, 3, "end"]
    finally:
        await member.disconnect()
        await member.shutdown()


@pytest.mark.parametrize("slow_on", ["other node", "same node"])
async def test_volatile_emits_stay_volatile_on_other_nodes(
    start_node: Any, client: Client, slow_on: str
) -> None:
    """A typing indicator from node A is dropped for a client with a backlog, on node B (the
    flag crosses the bus) as on A (the bus manager's own delivery keeps it too)."""
    limits = {"max_payload": 16_384, "max_buffer_bytes": 65_536, "rate_limit_events": 0}
    a, b = await start_node(**limits), await start_node(**limits)
    writer, witness = await client(a, "json"), await client(b, "msgpack")
    slow_node = b if slow_on == "other node" else a
    typing = Inbox(witness, "typing")
    await call(writer, "join", {"room": "r", "name": "writer"})
    await call(witness, "join", {"room": "r", "name": "witness"})
    async with aiohttp.ClientSession() as http:
        # a raw polling client joins the room, then never polls again
        base = str(slow_node.make_url("/socket.io/")) + "?EIO=4&transport=polling"
        async with http.get(base) as r:
            sid = (await r.text()).split('"sid":"')[1].split('"')[0]
        url = f"{base}&sid={sid}"
        for body, reply in (
            ("40/chat,", "40/chat"),
            ('42/chat,1["join",{"room":"r","name":"slow"}]', "43/chat,1"),
        ):
            async with http.post(url, data=body) as r:
                assert r.status == 200
            polled = ""
            for _ in range(5):  # a room's broadcast (another's join) may come first
                async with http.get(url) as r:
                    polled += await r.text()
                if reply in polled:
                    break
            assert reply in polled
        slow = slow_node.app[SIO].eio.sockets[sid]
        for _ in range(5):  # ~20 KB queued for it: over a quarter of max_buffer_bytes
            await call(writer, "message", {"room": "r", "text": "x" * 3900})
        await eventually(lambda: slow.buffered_bytes > 65_536 // 4)
        backlog = slow.buffered_bytes
        await call(writer, "typing", {"room": "r"})
        assert await typing.get() == {"room": "r", "name": "writer"}  # it crossed to node B
        assert slow.buffered_bytes == backlog  # and was dropped for the slow client


async def test_history_and_retries_are_cluster_wide(start_node: Any, client: Client) -> None:
    from tests.security.conftest import AUTH_SETTINGS, token

    a, b = await start_node(**AUTH_SETTINGS), await start_node(**AUTH_SETTINGS)
    tabs = []  # two tabs of one user (one token subject), one on each node
    for node in (a, b):
        tab = socketio.AsyncClient()
        await tab.connect(
            str(node.make_url("/")), namespaces=[CHAT], auth={"token": token()}, wait_timeout=5
        )
        tabs.append(tab)
    try:
        for tab in tabs:
            await call(tab, "join", {"room": "h"})
        first = await call(tabs[0], "message", {"room": "h", "text": "hi", "client_id": "x"})
        # the retry arrives on the other node (the client reconnected there): same answer
        retry = await call(tabs[1], "message", {"room": "h", "text": "hi", "client_id": "x"})
        assert retry == first
        reply = await call(tabs[1], "join", {"room": "h", "history": 10})
        assert [m["id"] for m in reply["history"]] == [first["id"]]
    finally:
        for tab in tabs:
            await tab.disconnect()
            await tab.shutdown()


async def test_the_emitter_can_store_for_recovery(
    start_node: Any, redis_url: str, redis_prefix: str
) -> None:
    """``recoverable=True`` goes through the recovery stream: every node delivers it with its
    offset (a stream id), so a client that is away gets it when it comes back."""
    a = await start_node()
    client = socketio.AsyncClient()
    await client.connect(str(a.make_url("/")), namespaces=["/recovering"], wait_timeout=5)
    try:
        news = Inbox(client, "news", "/recovering")
        await client.call("enter", "r", namespace="/recovering", timeout=5)
        async with Emitter(redis_url, prefix=redis_prefix) as emitter:
            await emitter.emit("news", {"n": 1}, namespace="/recovering", to="r", recoverable=True)
            await emitter.emit("news", {"n": 2}, namespace="/recovering", to="r")
        payload, offset = await news.get()
        assert payload == {"n": 1} and re.fullmatch(r"\d+-\d+", offset)
        assert await news.get() == {"n": 2}  # not stored: no offset
    finally:
        await client.disconnect()
        await client.shutdown()


async def test_what_the_bus_cannot_carry_still_reaches_this_nodes_clients(
    start_node: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Data nested past the bus's 1024 levels (msgpack) reaches the emitting node's clients in
    the room (the client formats carry it), the emitter is told it did not cross (an
    ``Unencodable``), one line per cause (an integer past 64 bits is another), and the bus
    carries the next emit to both nodes as before."""
    if sys.version_info < (3, 12):
        checked_in_another_run("JSON cannot carry 1100 levels before 3.12 (C recursion)")
    a, b = await start_node(), await start_node()
    deep: list[Any] = []
    for _ in range(1100):
        deep = [deep]
    async with aiohttp.ClientSession() as http:
        readers = []
        for node in (a, b):
            ws, _ = await raw_client.join(http, node, "/test")
            assert await raw_client.ask(ws, "/test", 1, "enter", "deep") is not None
            readers.append(ws)
        with pytest.raises(Unencodable):
            await a.app[SIO].emit("news", deep, namespace="/test", to="deep")
        assert (await raw_client.next_packet(readers[0])).startswith('42/test,["news",[[[[')
        with pytest.raises(Unencodable):  # another cause (JSON refuses it too): its own line
            await a.app[SIO].emit("news", 2**70, namespace="/test", to="deep")
        lines = [r.getMessage() for r in caplog.records if r.msg.startswith("not sent to")]
        assert [line.split(": ", 1)[0] for line in lines] == ["not sent to other nodes"] * 2
        assert "nested too deeply" in lines[0] and "Integer value out of range" in lines[1]
        await a.app[SIO].emit("news", "after", namespace="/test", to="deep")
        for ws in readers:  # the other node's first: the deep one never crossed
            assert await raw_client.next_packet(ws) == '42/test,["news","after"]'
            await ws.close()
