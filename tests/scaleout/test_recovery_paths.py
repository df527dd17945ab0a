"""Recovery's second paths: who a missed packet was meant for, how much the log keeps, and
which namespaces have recovery. Each test pins what a client sees that a plausible one-line
mistake would change (named in its docstring; the hand-written mutants of
scripts/hand_mutants/sio-recovery.toml and the others are such mistakes)."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from typing import Any

import aiohttp
import pytest
import socketio
from redis import asyncio as aioredis

from socketsvc.app.factory import BACKENDS, SIO
from socketsvc.errors import Unencodable, UnsupportedValue
from socketsvc.scaleout import redis_recovery
from socketsvc.scaleout.bus import stream_key
from socketsvc.sio import records
from socketsvc.sio.once import Once
from tests import raw_client
from tests.app.test_metrics import scrape
from tests.conftest import TEST_NAMESPACES, StartServer, TestServer
from tests.recovering import (  # noqa: F401 - fixtures
    NS,
    Cluster,
    MakeCluster,
    Member,
    abandon,
    away,
    joined,
    kept,
    make_cluster_fixture,
    member_fixture,
    recovered,
    until,
    wait_for,
)
from tests.redis_support import RedisProcess


async def test_a_broadcast_to_the_others_is_not_replayed_to_its_sender(
    make_cluster: MakeCluster, member: Member
) -> None:
    """Mistake: the replay ignores an emit's ``skip_sid`` (a sid, or a list of them). A
    client that sent to the others of its room (it never got that packet) and then dropped
    does not get its own message back when it recovers, nor one that skipped it meanwhile."""
    cluster = await make_cluster()
    first, last = cluster.nodes[0], cluster.nodes[-1]
    sid = await joined(cluster, member, first)
    assert await member.call("tell_others", "r", "mine") is True
    await cluster.drop(first, member)
    await kept(cluster, member)
    await cluster.publish(1)
    await last.app[SIO].emit("news", "skipped", namespace=NS, to="r", skip_sid=[sid, "x"])
    await cluster.publish(1)
    await recovered(member, last, sid)
    await cluster.all_received(member)  # not "mine"


async def test_what_was_sent_to_the_clients_own_sid_meanwhile_is_replayed(
    make_cluster: MakeCluster, member: Member
) -> None:
    """Mistake: the replay looks for the client's rooms only, not its sid (a room of one), or
    takes a room given as one string for a set of one-letter rooms, or the log keeps no room
    with a packet. A direct message sent while the client was away is replayed, in order
    with its room's packets, and so is one to a list of rooms that holds one of its own;
    one to a room it is not in is not."""
    cluster = await make_cluster()
    first, last = cluster.nodes[0], cluster.nodes[-1]
    sid = await away(cluster, member, first)
    for node in cluster.nodes:
        await cluster.publish(1)
        n = len(cluster.sent) + 1
        await node.app[SIO].emit("news", n, namespace=NS, to=sid)
        cluster.sent.append(n)
        await node.app[SIO].emit("news", "elsewhere", namespace=NS, to="other")
        n = len(cluster.sent) + 1
        await node.app[SIO].emit("news", n, namespace=NS, to=["other", "r"])
        cluster.sent.append(n)
    await recovered(member, last, sid)
    await cluster.all_received(member)


# Packets of "news" with a number under 10 and a memory offset ("<8 hex>-<n>", n under 10)
# take 18 bytes each in the log: 54 bytes hold exactly 3 of them, as 3 packets do.
LIMITS = [{"recovery_max_packets": 3}, {"recovery_max_bytes": 54}]


@pytest.mark.parametrize("limit", LIMITS, ids=["packets", "bytes"])
async def test_a_client_that_missed_more_than_the_log_keeps_connects_fresh(
    start_server: StartServer,
    member: Member,
    limit: dict[str, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Mistake: the eviction check is off by one, or a bound is exclusive, or the log is
    bounded by count only, or counts its bytes wrong. A client that missed exactly as much as
    the log holds is recovered with all of it; one that missed one packet more (evicted)
    connects fresh, not recovered with a hole."""
    cluster = Cluster([await start_server(**limit)])
    node = cluster.nodes[0]
    sid = await away(cluster, member, node)
    await cluster.publish(3)  # all the log holds
    await recovered(member, node, sid)
    await cluster.all_received(member)
    await cluster.drop(node, member)
    await kept(cluster, member)
    await cluster.publish(4)  # the first of them is evicted by the last
    again = await member.connect(node)
    assert again["sid"] != sid
    assert (await member.call("state"))["recovered"] is False
    why = f"recovery of {NS}: what the client missed is no longer kept"
    assert [r.getMessage() for r in caplog.records if r.msg.startswith("recovery of")] == [why]
    metrics = await scrape(node.make_url("/metrics"))
    missed = {"namespace": NS, "reason": "missed_too_much"}
    assert metrics.value("socketsvc_recovery_misses_total", **missed) == 1
    assert metrics.total("socketsvc_recovery_misses_total") == 1


async def test_a_prefix_window_covers_one_level_of_namespaces(start_server: StartServer) -> None:
    """Mistake: a ``/prefix/*`` window in ``[namespace_recovery]`` also covers namespaces
    nested deeper, or beside it. ``/kept/*`` gives ``/kept/a`` recovery (its CONNECT carries
    a pid), not ``/kept/a/b`` (served by another pattern), ``/keptab`` or ``/returns``. And
    ``recovery_window`` is the window of a namespace neither the table nor its class sets."""
    kept_class, echo_class = TEST_NAMESPACES["/kept/*"], TEST_NAMESPACES["/test"]
    namespaces = {**TEST_NAMESPACES, "/kept/a/*": kept_class, "/keptab": echo_class}
    server = await start_server(namespaces=namespaces, namespace_recovery={"/kept/*": 30.0})
    default = await start_server(recovery_window=30.0)
    expected = [
        (server, "/kept/a", True),
        (server, "/kept/a/b", False),
        (server, "/keptab", False),
        (server, "/returns", False),
        (default, "/test", True),
        (default, "/chat", False),  # the table's 0 wins
    ]
    async with aiohttp.ClientSession() as http:
        for node, namespace, recovering in expected:
            ws, hello = await raw_client.join(http, node, namespace)
            assert ("pid" in hello) is recovering, (namespace, hello)
            await ws.close()


async def test_a_pid_where_recovery_cannot_use_it_is_passed_over(
    make_cluster: MakeCluster, member: Member
) -> None:
    """Mistake: a ``pid`` is claimed in a namespace without recovery, or when it is not a
    string. Such a client connects as new and no recovery is counted for it, not even a miss;
    the kept session the pid names stays kept, and its own client recovers it."""
    cluster = await make_cluster()
    node = cluster.nodes[0]
    sid = await away(cluster, member, node)
    url = str(node.make_url("/"))
    for namespace, pid in [("/test", member.pid), (NS, 5)]:
        client = socketio.AsyncClient(reconnection=False)
        try:
            await client.connect(url, namespaces=[namespace], auth={"pid": pid}, wait_timeout=5)
            assert client.get_sid(namespace) not in (None, sid)
        finally:
            await client.disconnect()
            await client.shutdown()
    metrics = await scrape(node.make_url("/metrics"))
    assert metrics.total("socketsvc_recoveries_total") == 0
    await recovered(member, node, sid)


async def test_a_client_that_joined_no_room_is_kept_too(
    make_cluster: MakeCluster, member: Member
) -> None:
    """Mistake: a session is told to the log only when its rooms or data change, not when it
    connects. A client that joined no room and got nothing stored (so it has no offset) is
    kept when it drops, also before anything at all was stored in its namespace, and gets
    what was sent to its sid meanwhile."""
    cluster = await make_cluster()
    first, last = cluster.nodes[0], cluster.nodes[-1]
    who = await member.connect(first)
    await cluster.drop(first, member)
    await kept(cluster, member)
    again = await member.connect(last)  # nothing stored yet, anywhere
    assert again["sid"] == who["sid"]
    await cluster.drop(last, member)
    await kept(cluster, member)
    await first.app[SIO].emit("news", "direct", namespace=NS, to=who["sid"])
    again = await member.connect(last)
    assert again["sid"] == who["sid"]
    await until(lambda: member.got == ["direct"])


async def test_a_client_that_leaves_the_namespace_on_purpose_is_not_kept(
    make_cluster: MakeCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """Mistake: every disconnect keeps the session. A client that leaves the namespace (its
    DISCONNECT packet, its transport still open) is gone for good: with its pid it connects
    fresh (and the node says why in one line)."""
    cluster = await make_cluster()
    first, last = cluster.nodes[0], cluster.nodes[-1]
    async with aiohttp.ClientSession() as http:
        ws, hello = await raw_client.join(http, first, NS)
        assert await raw_client.ask(ws, NS, 1, "enter", "r") is True
        await ws.send_str(f"41{NS},")
        await until(lambda: not first.app[SIO].manager.is_connected(hello["sid"], NS))
        assert not await cluster.kept(hello["pid"])
        again, fresh = await raw_client.join(http, last, NS, {"pid": hello["pid"]})
        assert fresh["sid"] != hello["sid"]
        for socket in (ws, again):
            await socket.close()
    why = f"recovery of {NS}: no session (expired, unknown or taken)"
    assert [r.getMessage() for r in caplog.records if r.msg.startswith("recovery of")] == [why]


@pytest.mark.parametrize("offset", [12, ["x"], {"o": "1-1"}], ids=["number", "list", "map"])
async def test_an_offset_that_is_not_a_string_counts_as_none(
    make_cluster: MakeCluster, member: Member, offset: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Mistake: the offset a client sends is used whatever its type. A client's bug (or a
    hostile one) sending a number, list or map is recovered as one that sent no offset (from
    its session's start), and no error is logged."""
    cluster = await make_cluster()
    first, last = cluster.nodes[0], cluster.nodes[-1]
    sid = await away(cluster, member, first)
    member.offset = None
    who = await member.connect(last, auth={"offset": offset})
    assert who["sid"] == sid
    assert (await member.call("state"))["recovered"] is True
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_a_long_replay_is_paced_by_what_the_client_has_read(
    make_cluster: MakeCluster, member: Member
) -> None:
    """Mistake: a replay does not wait for the client's backlog between its slices. A client
    that missed more than its connection may hold unread (``max_buffer_bytes``; a slice is
    well under it) is not cut as a slow consumer while it recovers: it gets everything, on
    the connection that recovered."""
    cluster = await make_cluster(max_buffer_bytes=10_000, max_payload=10_000)
    first, last = cluster.nodes[0], cluster.nodes[-1]
    sid = await away(cluster, member, first)
    await cluster.publish(500)  # 15 to 30 kB, by format and backend
    await recovered(member, last, sid)
    await cluster.all_received(member)
    assert member.client is not None and member.client.connected


@pytest.mark.parametrize("make_cluster", ["redis"], indirect=True)
async def test_a_client_whose_missed_packets_were_trimmed_from_the_stream_connects_fresh(
    make_cluster: MakeCluster, member: Member
) -> None:
    """The stream's bound (``recovery_max_packets``, trimmed in whole stream nodes of 100)
    drops the oldest entries, which Redis does not count as deleted
    (``max-deleted-entry-id``): a client that missed some of them connects fresh, not
    recovered with a hole (it was, before this test)."""
    cluster = await make_cluster(recovery_max_packets=100)
    first, last = cluster.nodes[0], cluster.nodes[-1]
    sid = await away(cluster, member, first)
    await cluster.publish(300)
    again = await member.connect(last)
    assert again["sid"] != sid
    assert (await member.call("state"))["recovered"] is False
    assert member.got == [1]


@pytest.mark.parametrize("make_cluster", ["redis"], indirect=True)
async def test_a_replay_whose_rest_was_trimmed_meanwhile_leaves_no_hole(
    make_cluster: MakeCluster, member: Member, caplog: pytest.LogCaptureFixture
) -> None:
    """Mistake: a replay does not check, once it has sent what it read, whether the stream
    dropped the rest meanwhile. The client is held after its first slice while the stream is
    trimmed past what it still missed: it never gets a packet after a gap (its transport is
    closed instead; coming back, it connects fresh)."""
    cluster = await make_cluster(recovery_max_packets=100)
    first, restorer = cluster.nodes[0], cluster.nodes[-1]
    sid = await away(cluster, member, first)
    await cluster.publish(150)
    hold = cluster.hold(restorer, "replaying", str(member.pid))
    restoring = asyncio.create_task(member.connect(restorer))
    await hold.wait()  # the first slice is sent
    await cluster.publish(300)  # trims (whole stream nodes of 100) past the rest of it
    client = member.client
    assert client is not None
    eio_sid = member.eio_sid
    hold.resume()
    await until(lambda: client.eio.state != "connected" or len(member.got) == len(cluster.sent))
    await abandon(restoring)
    assert member.got == cluster.sent[: len(member.got)]  # no gap
    assert client.eio.state != "connected"
    why = "the log went down or dropped part of it"
    closing = f"recovery of {NS}: replay not completed ({why}); closing {eio_sid}"
    assert [r.getMessage() for r in caplog.records if "not completed" in r.msg] == [closing]
    again = await member.connect(first)
    assert again["sid"] != sid
    metrics = await scrape(restorer.make_url("/metrics"))  # a recovery that did not complete
    assert metrics.value("socketsvc_recoveries_total", namespace=NS, outcome="hit") == 0


async def test_a_client_sent_more_than_can_be_held_during_its_replay_recovers_the_rest_later(
    make_cluster: MakeCluster,
    member: Member,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What is sent to a client while its replay runs is held, up to ``MAX_HELD`` packets.
    Past that its restore is abandoned: its transport is closed with a line that says why
    (mistake: the line blames the log), nothing held is sent (no packet after a gap), and
    coming back it recovers the rest, in order, none twice."""
    monkeypatch.setattr(records, "MAX_HELD", 5)
    cluster = await make_cluster()
    first, restorer = cluster.nodes[0], cluster.nodes[-1]
    sid = await away(cluster, member, first)
    await cluster.publish(3)
    hold = cluster.hold(restorer, "connected", str(member.pid))
    restoring = asyncio.create_task(member.connect(restorer))
    await hold.wait()  # joined: what is sent to it from now on is held
    client = member.client
    assert client is not None
    eio_sid = member.eio_sid
    for _ in range(records.MAX_HELD + 1):  # from the restoring node: held as the emit returns
        n = len(cluster.sent) + 1
        await restorer.app[SIO].emit("news", n, namespace=NS, to="r")
        cluster.sent.append(n)
    hold.resume()
    await until(lambda: client.eio.state != "connected")
    await abandon(restoring)
    assert member.got == cluster.sent[: len(member.got)]  # no gap
    closing = f"recovery of {NS}: replay not completed (held too much); closing {eio_sid}"
    assert [r.getMessage() for r in caplog.records if "not completed" in r.msg] == [closing]
    await kept(cluster, member)
    await recovered(member, first, sid)
    await cluster.all_received(member)


@pytest.mark.parametrize("make_cluster", ["redis"], indirect=True)
async def test_a_node_keeps_its_clients_live_sessions_claimable_as_long_as_they_last(
    make_cluster: MakeCluster, member: Member, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    """Mistake: a session claimed by a reconnect (from another node, or from an older
    connection on this one) is not among the node's live ones, whose records it re-arms:
    the record lapses while its client is connected, and when it drops it is not kept.
    Each live record is cut short here (as if its client had been connected for minutes)
    and must be re-armed by its node; the client then drops and is recovered."""
    monkeypatch.setattr(redis_recovery, "REFRESH_SECONDS", 0.05)
    cluster = await make_cluster()
    first, last = cluster.nodes[0], cluster.nodes[-1]
    sid = await joined(cluster, member, first)
    redis = aioredis.Redis.from_url(redis_url)
    prefix = first.app[BACKENDS].recovery.prefix
    live = f"{prefix}:rlive:{NS}:{member.pid}"
    try:
        await rearmed(redis, live)  # a fresh connection's record
        await cluster.drop(first, member)
        await kept(cluster, member)
        await recovered(member, last, sid)
        await rearmed(redis, live)  # claimed from a kept session, on another node
        await recovered(member, last, sid)  # the older connection still open there
        await rearmed(redis, live)  # claimed from an older connection on the same node
        await cluster.drop(last, member)
        await kept(cluster, member)
        await cluster.publish(3)
        await recovered(member, first, sid)
        await cluster.all_received(member)
    finally:
        await redis.aclose()


@pytest.mark.parametrize("make_cluster", ["redis"], indirect=True)
async def test_the_stream_keeps_what_a_client_away_inside_its_window_missed(
    make_cluster: MakeCluster, member: Member, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    """Mistake: the nodes trim the stream to the longest window in the wrong unit (seconds
    for milliseconds: the last 0.14 s kept). They refresh every 0.05 s here; a client away
    0.3 s while the stream moved on is recovered with all it missed."""
    monkeypatch.setattr(redis_recovery, "REFRESH_SECONDS", 0.05)
    cluster = await make_cluster()
    first, last = cluster.nodes[0], cluster.nodes[-1]
    watcher = Member()
    redis = aioredis.Redis.from_url(redis_url)
    try:
        sid = await joined(cluster, member, first)
        watching = await watcher.connect(first)
        await cluster.drop(first, member)
        await kept(cluster, member)
        await cluster.publish(150)  # more than a stream node (100 entries)
        await asyncio.sleep(0.3)  # away a while: what the test is about
        await cluster.publish(2)  # the stream moves on, from both nodes
        prefix = first.app[BACKENDS].recovery.prefix
        await rearmed(redis, f"{prefix}:rlive:{NS}:{watching['pid']}")  # a refresh since
        await recovered(member, last, sid)
        await cluster.all_received(member)
    finally:
        await watcher.close()
        await redis.aclose()


@pytest.mark.parametrize("make_cluster", ["redis"], indirect=True)
async def test_a_node_that_starts_on_a_stream_begins_at_its_end(
    make_cluster: MakeCluster,
    member: Member,
    start_server: StartServer,
    redis_url: str,
    redis_prefix: str,
) -> None:
    """A node that starts when the stream already holds entries learns where it ends: a
    client that joins it, drops before it got anything, and comes back, gets what was sent
    since it joined, none of what came before (mistake: a start position it cannot read,
    which left the node without one)."""
    cluster = await make_cluster()
    first = cluster.nodes[0]
    for n in range(3):  # before the late node starts: not for the member
        await first.app[SIO].emit("news", f"old {n}", namespace=NS, to="r")
    late = await start_server(manager="redis", redis_url=redis_url, redis_prefix=redis_prefix)
    who = await member.connect(late)
    assert await member.call("enter", "r") is True
    await cluster.drop(late, member)
    await kept(cluster, member)
    await cluster.publish(2)
    await recovered(member, late, str(who["sid"]))
    await cluster.all_received(member)


async def rearmed(redis: aioredis.Redis, live: str) -> None:
    """Cut a live record short; return once its node has re-armed it (its refresh ran) for
    longer than the longest window (120 s at least): a node that dies leaves its clients'
    sessions claimable for their whole window."""
    assert await redis.pexpire(live, 300)
    await wait_for(lambda: _longer_than(redis, live, 120_000))


async def _longer_than(redis: aioredis.Redis, key: str, ms: int) -> bool:
    return int(await redis.pttl(key)) > ms


@pytest.mark.parametrize("make_cluster", ["redis"], indirect=True)
async def test_a_chat_message_retried_a_while_later_is_sent_once(
    make_cluster: MakeCluster,
) -> None:
    """Mistake: a stored emit's retry key is kept for its seconds as milliseconds (a 30 s
    ``chat_retry_window`` kept 30 ms). A message retried 0.2 s later (its ack was lost) is
    answered with the first ack and reaches the room once."""
    cluster = await make_cluster(namespace_recovery={"/chat": 30.0}, chat_retry_window=30.0)
    first, last = cluster.nodes[0], cluster.nodes[-1]
    sender = socketio.AsyncClient(reconnection=False)
    bob = socketio.AsyncClient(reconnection=False)
    texts: list[str] = []
    bob.on("message", lambda m, *offset: texts.append(m["text"]), namespace="/chat")
    try:
        for client, node, name in [(sender, first, "alice"), (bob, last, "bob")]:
            await client.connect(str(node.make_url("/")), namespaces=["/chat"], wait_timeout=5)
            await client.call("join", {"room": "r", "name": name}, namespace="/chat", timeout=5)
        send = {"room": "r", "text": "once", "client_id": "m-1"}
        ack = await sender.call("message", send, namespace="/chat", timeout=5)
        await asyncio.sleep(0.2)  # the retry comes a while later: what the test is about
        assert await sender.call("message", send, namespace="/chat", timeout=5) == ack
        then = {"room": "r", "text": "then", "client_id": "m-2"}
        await sender.call("message", then, namespace="/chat", timeout=5)
        await until(lambda: "then" in texts)
        assert texts == ["once", "then"]
    finally:
        for client in (sender, bob):
            if client.connected:
                await client.disconnect()
            await client.shutdown()


@pytest.mark.parametrize("forge", ["other-epoch", "past-the-end", "not-a-number"])
async def test_an_offset_this_log_never_gave_connects_fresh(
    start_server: StartServer, member: Member, forge: str
) -> None:
    """Mistake: one of the checks of a memory offset (``<epoch>-<n>``) is merged with another.
    An offset of another process (a node restarted), past the last packet given out, or
    without a number connects fresh, with no error."""
    cluster = Cluster([await start_server()])
    node = cluster.nodes[0]
    sid = await away(cluster, member, node)
    await cluster.publish(2)
    assert member.offset is not None
    epoch, _, number = member.offset.rpartition("-")
    member.offset = {
        "other-epoch": f"{'0' if epoch[0] != '0' else '1'}{epoch[1:]}-{number}",
        "past-the-end": f"{epoch}-{int(number) + 1000}",
        "not-a-number": f"{epoch}-x",
    }[forge]
    again = await member.connect(node)
    assert again["sid"] != sid
    assert (await member.call("state"))["recovered"] is False


@pytest.mark.parametrize("event", ["flash", "poll"], ids=["volatile", "with-ack"])
async def test_a_volatile_or_acked_emit_is_not_replayed(
    make_cluster: MakeCluster, member: Member, event: str
) -> None:
    """Mistake: a volatile emit, or one that asks for an ack, in a namespace with recovery is
    stored like any other. As in Node, neither is replayed: a client away when it was sent
    does not get it."""
    cluster = await make_cluster()
    first = cluster.nodes[0]  # one node: another's copy of a live emit comes when it comes
    sid = await away(cluster, member, first)
    flasher = Member()
    try:
        await flasher.connect(first)
        assert await flasher.call(event, "r", "not stored") is True
    finally:
        await flasher.close()
    await cluster.publish(1)
    await recovered(member, first, sid)
    await cluster.all_received(member)  # not "not stored"


async def test_an_emit_of_several_arguments_keeps_them_apart(
    make_cluster: MakeCluster,
) -> None:
    """Mistake: the arguments of an emit (a tuple) are stored as one. Clients on either node
    get them as separate arguments, the offset after them."""
    cluster = await make_cluster()
    async with aiohttp.ClientSession() as http:
        readers = []
        for node in cluster.nodes:
            ws, _ = await raw_client.join(http, node, NS)
            assert await raw_client.ask(ws, NS, 1, "enter", "r") is True
            readers.append(ws)
        await cluster.nodes[0].app[SIO].emit("news", ("a", 2), namespace=NS, to="r")
        for ws in readers:
            frame = await raw_client.next_packet(ws)
            event, *args, offset = json.loads(frame.removeprefix(f"42{NS},"))
            assert (event, args) == ("news", ["a", 2]) and isinstance(offset, str)
            await ws.close()


async def test_an_emit_of_a_type_no_format_carries_is_refused_naming_it(
    make_cluster: MakeCluster,
) -> None:
    """Mistake: the log's refusal of a value no wire format carries loses the value (it
    names the encoder's words instead of the type). The application's emit raises
    ``UnsupportedValue`` naming the type, on every node, and stores nothing."""
    cluster = await make_cluster()
    for node in cluster.nodes:
        with pytest.raises(UnsupportedValue) as refused:
            await node.app[SIO].emit("news", {"tags": {1, 2}}, namespace=NS, to="r")
        assert refused.value.type_name == "set"


async def test_an_emit_the_log_cannot_keep_is_refused_and_logged_once_per_node(
    make_cluster: MakeCluster, member: Member, caplog: pytest.LogCaptureFixture
) -> None:
    """An integer past 64 bits, in a namespace with recovery: the log cannot keep it, so no
    client gets it (none could recover it). The emit raises ``Unencodable`` on every node,
    however often it is tried, and each node logs the cause once."""
    cluster = await make_cluster()
    sid = await away(cluster, member, cluster.nodes[0])
    for node in cluster.nodes:
        for _ in range(2):
            with pytest.raises(Unencodable):
                await node.app[SIO].emit("news", 2**70, namespace=NS, to="r")
    lines = [r.getMessage() for r in caplog.records if r.msg.startswith("not sent in")]
    assert len(lines) == len(cluster.nodes), lines
    assert all(line.startswith(f"not sent in {NS}: ") for line in lines), lines
    await recovered(member, cluster.nodes[-1], sid)
    await cluster.all_received(member)  # nothing of it stored


async def test_a_missed_packet_the_clients_format_cannot_carry_is_skipped_and_logged_once(
    make_cluster: MakeCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """Mistake: a refused replay packet is logged with the wrong cause or arguments (one line
    for every cause, or a line logging cannot format). A JSON client recovering packets it
    cannot receive (integers past 2**53, NaN: the log keeps both) gets the others, and the
    node logs one line per cause, whatever the count, without a traceback."""
    cluster = await make_cluster()
    first, last = cluster.nodes[0], cluster.nodes[-1]
    member = Member("json", "websocket")
    try:
        sid = await away(cluster, member, first)
        for value in [2**60, float("nan"), 2**61, float("inf")]:
            await first.app[SIO].emit("news", value, namespace=NS, to="r")
            await cluster.publish(1)
        await recovered(member, last, sid)
        await cluster.all_received(member)
    finally:
        await member.close()
    lines = [r.getMessage() for r in caplog.records if "missed packet not sent" in r.msg]
    assert len(lines) == 2, lines
    assert any("2**53" in line for line in lines) and any("NaN" in line for line in lines)
    assert all(line.startswith(f"recovery of {NS}: ") for line in lines), lines
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_a_replay_cut_by_a_redis_outage_leaves_no_hole(
    redis_process: RedisProcess, start_server: StartServer, redis_prefix: str
) -> None:
    """Mistake: a replay that cannot read the rest of what the client missed (Redis went
    down mid-replay) counts as complete. The client gets no packet after the gap: its
    transport is closed (it reconnects, fresh or recovered once Redis is back)."""
    shared = {"manager": "redis", "redis_url": redis_process.url, "redis_prefix": redis_prefix}
    cluster = Cluster([await start_server(**shared) for _ in range(2)])
    first, restorer = cluster.nodes[0], cluster.nodes[-1]
    member = Member("json", "websocket")
    try:
        await joined(cluster, member, first)
        await cluster.drop(first, member)
        await kept(cluster, member)
        await cluster.publish(150)
        hold = cluster.hold(restorer, "replaying", str(member.pid))
        restoring = asyncio.create_task(member.connect(restorer))
        await hold.wait()  # the first slice is sent
        redis_process.stop(signal.SIGKILL)
        client = member.client
        assert client is not None
        hold.resume()
        await until(lambda: client.eio.state != "connected")
        await abandon(restoring)
        assert member.got == cluster.sent[: len(member.got)] and len(member.got) < 151
    finally:
        await member.close()


async def test_a_restore_cut_by_a_drop_is_not_counted_as_a_recovery(
    start_server: StartServer, member: Member
) -> None:
    """Mistake: a restore whose client dropped during its replay reports success (it is
    counted as a recovery hit, and the class's ``after_connect`` runs for a client that is
    gone). ``/metrics`` counts only the recovery that completed."""
    cluster = Cluster([await start_server()])
    node = cluster.nodes[0]
    sid = await away(cluster, member, node)
    await cluster.publish(150)
    hold = cluster.hold(node, "replaying", str(member.pid))
    restoring = asyncio.create_task(member.connect(node))
    await hold.wait()
    await cluster.drop(node, member)  # during its replay
    await kept(cluster, member)
    hold.resume()
    await abandon(restoring)
    await recovered(member, node, sid)
    await cluster.all_received(member)
    metrics = await scrape(node.make_url("/metrics"))
    assert metrics.value("socketsvc_recoveries_total", namespace=NS, outcome="hit") == 1


@pytest.mark.parametrize("make_cluster", ["redis"], indirect=True)
async def test_a_kept_session_the_log_cannot_read_connects_fresh_and_is_removed(
    make_cluster: MakeCluster, member: Member, redis_url: str
) -> None:
    """A kept session this version cannot read (written by another one, or damaged): its
    client connects fresh, and the claim removes it rather than leaving it live under a
    connection that never holds it. Mistake: the claim returns without forgetting it."""
    cluster = await make_cluster()
    first, last = cluster.nodes[0], cluster.nodes[-1]
    sid = await away(cluster, member, first)
    redis = aioredis.Redis.from_url(redis_url)
    prefix = first.app[BACKENDS].recovery.prefix
    live, stored = (f"{prefix}:{kind}:{NS}:{member.pid}" for kind in ("rlive", "rsess"))
    try:
        assert await redis.set(stored, b"\xc1 not a session", xx=True, keepttl=True)
        again = await member.connect(last)
        assert again["sid"] != sid
        assert (await member.call("state"))["recovered"] is False
        assert await redis.exists(live, stored) == 0
    finally:
        await redis.aclose()


@pytest.mark.parametrize("make_cluster", ["redis"], indirect=True)
async def test_the_bus_metrics_count_each_stored_emit_once(make_cluster: MakeCluster) -> None:
    """``socketsvc_bus_published_total`` counts what a node appended to the stream, each emit
    once (a retry whose once-key was sent already appends nothing), and
    ``socketsvc_bus_received_total`` what it read of the other nodes' (not its own).
    Mistake: the count takes the retries, or each emit twice, or none; or a node's entries
    do not say who wrote them."""
    cluster = await make_cluster()
    a, b = cluster.nodes
    for n in range(3):
        await a.app[SIO].manager.emit("news", n, namespace=NS, room="r")
    for attempt in range(2):
        once = Once("sender:1", {"id": attempt}, 60)
        await a.app[SIO].manager.emit("news", "once", namespace=NS, room="r", once=once)
        assert once.earlier == (None if attempt == 0 else {"id": 0})
    await b.app[SIO].manager.emit("news", "from b", namespace=NS, room="r")

    async def counted(node: TestServer, published: int, received: int) -> bool:
        metrics = await scrape(node.make_url("/metrics"))
        counts = [
            metrics.value(f"socketsvc_bus_{name}_total") for name in ("published", "received")
        ]
        assert counts[0] == published and counts[1] <= received, counts
        return counts[1] == received

    await wait_for(lambda: counted(a, 4, 1))
    await wait_for(lambda: counted(b, 1, 4))


async def test_an_emit_to_the_whole_namespace_is_delivered_and_replayed(
    make_cluster: MakeCluster, member: Member
) -> None:
    """Mistake: a stored emit without a room (to everyone in the namespace) is dropped by the
    log's readers or its replay. A member gets one live, and after a drop the ones it missed."""
    cluster = await make_cluster()
    first, last = cluster.nodes[0], cluster.nodes[-1]
    sid = await joined(cluster, member, first)
    await last.app[SIO].emit("news", 2, namespace=NS)
    cluster.sent.append(2)
    await until(lambda: member.got == [1, 2])
    await cluster.drop(first, member)
    await kept(cluster, member)
    for node in cluster.nodes:
        n = len(cluster.sent) + 1
        await node.app[SIO].emit("news", n, namespace=NS)
        cluster.sent.append(n)
    await recovered(member, last, sid)
    await cluster.all_received(member)


@pytest.mark.parametrize("make_cluster", ["redis"], indirect=True)
async def test_an_entry_no_node_wrote_is_skipped_once_and_logged(
    make_cluster: MakeCluster, member: Member, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Something else appended to the recovery stream (not a stored emit): each node skips it
    with one warning naming the entry and why, however often it reads it (its reader, its
    appends' answers), and what comes after it is delivered. Mistake: the warning names
    nothing, or comes per read, or the reader stops there."""
    cluster = await make_cluster()
    await joined(cluster, member, cluster.nodes[0])
    redis = aioredis.Redis.from_url(redis_url)
    try:
        stream = stream_key(cluster.nodes[0].app[BACKENDS].recovery.prefix)
        foreign = [b"\xc1 not msgpack", b"\x92\x01\x02", b"\xc1 again"]
        entry_ids = [(await redis.xadd(stream, {"m": m})).decode() for m in foreign]
    finally:
        await redis.aclose()
    await cluster.all_received(member)
    lines = [r.getMessage() for r in caplog.records if "ignoring recovery entry" in r.msg]
    causes = zip(entry_ids, ("FormatError", "ValueError"), strict=False)
    once = [f"ignoring recovery entry {i}: {c} (logged once per cause)" for i, c in causes]
    assert sorted(lines) == sorted(once * 2), lines  # each cause once on each node


@pytest.mark.parametrize("make_cluster", ["redis"], indirect=True)
async def test_a_session_whose_data_redis_cannot_keep_is_logged_once_per_cause_and_not_kept(
    make_cluster: MakeCluster, member: Member, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Session data the Redis log cannot pack (a set; an integer past 64 bits): one line per
    cause on each node, when the handler saves it (not again when the client drops), no
    traceback, and the session is not kept: its client comes back fresh, not with the data
    it had before. Once its data can be packed again, it is kept again. Mistake: the line is
    per value or per save, names no cause, or the session is kept."""
    cluster = await make_cluster()
    first, last = cluster.nodes[0], cluster.nodes[-1]
    redis = aioredis.Redis.from_url(redis_url)
    prefix = first.app[BACKENDS].recovery.prefix

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if "cannot be kept" in r.msg]

    try:
        sid = await joined(cluster, member, first)
        for value in ({0}, {1}, 2**70):
            await first.app[SIO].save_session(sid, {"kept": value}, namespace=NS)
        assert len(lines()) == 2, lines()
        keys = [f"{prefix}:{kind}:{NS}:{member.pid}" for kind in ("rlive", "rsess")]
        await cluster.drop(first, member)
        await wait_for(lambda: _gone(redis, keys))
        again = await member.connect(last)
        assert again["sid"] != sid
        assert (await member.call("state"))["recovered"] is False
        assert len(lines()) == 2, lines()  # the drop met a cause this node had told already
        sid = str(again["sid"])
        for value in ({2}, -(2**70), "fine again"):
            await last.app[SIO].save_session(sid, {"kept": value}, namespace=NS)
        await cluster.drop(last, member)
        await kept(cluster, member)
        assert (await member.connect(first))["sid"] == sid
        state = await member.call("state")
        assert state["recovered"] is True and state["kept"] == "fine again"
    finally:
        await redis.aclose()
    why = "a session's data cannot be kept for recovery: "
    assert all(line.startswith(why) for line in lines()), lines()
    causes = ["a set cannot be sent", "Integer value out of range"] * 2  # once per node
    assert all(c in line for c, line in zip(causes, lines(), strict=True)), lines()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def _gone(redis: aioredis.Redis, keys: list[str]) -> bool:
    return int(await redis.exists(*keys)) == 0


async def test_a_node_started_while_redis_is_down_connects_recovery_clients(
    start_server: StartServer,
) -> None:
    """Redis unreachable since the node started, so it never learnt where the stream ends: a
    client of a namespace with recovery still connects, with a pid for later. Mistake: the
    head of a log that has no position yet is not the stream's start. The recovery log says
    it is down, by name, on /readyz and in /metrics."""
    node = await start_server(manager="redis", redis_url="redis://127.0.0.1:1/0")
    async with aiohttp.ClientSession() as http:
        ws, hello = await raw_client.join(http, node, NS)
        assert isinstance(hello.get("pid"), str) and hello["sid"]
        await ws.close()
        async with http.get(node.make_url("/readyz")) as r:
            assert r.status == 503
            reasons = (await r.json())["reasons"]
    down = "recovery: Redis at redis://127.0.0.1:1/0 unreachable: ConnectionError: "
    assert any(reason.startswith(down) for reason in reasons), reasons
    metrics = await scrape(node.make_url("/metrics"))
    assert metrics.value("socketsvc_redis_outages_total", component="recovery") == 1
