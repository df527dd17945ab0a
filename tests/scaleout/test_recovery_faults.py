"""Recovery under the interleavings of a drop and a reconnect with the steps of a restore:
two nodes on one redis-server (and one node in memory), python-socketio clients over
websocket and polling, each interleaving driven deterministically by holding one step of one
session's flow (the recovery log's ``checkpoints``) while the test drops the connection or
reconnects it elsewhere.

Whatever the interleaving, a client inside its window ends recovered: same sid, every packet
it missed, in order, none twice; and its session stays claimable for the next drop.
"""

from __future__ import annotations

import asyncio

import pytest
import socketio
from aiohttp.test_utils import TestServer

from socketsvc.app.factory import SIO
from socketsvc.sio import sessions
from tests.app.test_metrics import scrape
from tests.conftest import Inbox
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
    wait_for,
)
from tests.sample_handlers import DISCONNECT_GATES, Gate

RESTORE_POINTS = ["claimed", "connected", "replaying", "restored"]
MISSED = 150  # more than one replay slice (REPLAY_SLICE), so "replaying" is mid-replay


@pytest.fixture
async def cluster(make_cluster: MakeCluster) -> Cluster:
    return await make_cluster()


@pytest.mark.parametrize("point", RESTORE_POINTS)
@pytest.mark.parametrize("order", ["resume_first", "reconnect_first"])
@pytest.mark.parametrize(
    ("make_cluster", "target"),
    [("memory", "same"), ("redis", "same"), ("redis", "other")],
    indirect=["make_cluster"],
)
async def test_a_client_that_drops_during_its_restore_is_recovered_wherever_it_returns(
    cluster: Cluster, member: Member, point: str, order: str, target: str
) -> None:
    """It drops at ``point`` of its restore on node R, and reconnects to R or (with Redis)
    the other node, either before or after R's flow goes on."""
    first, restorer = cluster.nodes[0], cluster.nodes[-1]
    back_to = restorer if target == "same" else first
    sid = await away(cluster, member, first)
    await cluster.publish(MISSED)

    hold = cluster.hold(restorer, point, str(member.pid))
    restoring = asyncio.create_task(member.connect(restorer))
    await hold.wait()
    await cluster.drop(restorer, member)
    if point != "claimed":  # joined by then: the drop keeps the session again
        await kept(cluster, member)
    if order == "resume_first":
        hold.resume()
        await kept(cluster, member)
    await cluster.publish(MISSED)
    await recovered(member, back_to, sid)
    hold.resume()
    await abandon(restoring)
    await cluster.all_received(member)
    assert not await cluster.kept(str(member.pid))  # held by its live connection only

    # The flow that was held changed nothing: the session is still there for the next drop.
    await cluster.drop(back_to, member)
    await kept(cluster, member)
    await cluster.publish(3)
    await recovered(member, first, sid)
    await cluster.all_received(member)


async def test_a_reconnect_that_claims_before_the_old_node_keeps_the_session_is_recovered(
    cluster: Cluster, member: Member
) -> None:
    """The old node has seen the drop but not yet kept the session (held just before its
    ``persist``) when the client claims it on the other node: it takes the live session
    there, and the old node's late step leaves it alone."""
    old, new = cluster.nodes[0], cluster.nodes[-1]
    sid = await joined(cluster, member, old)
    hold = cluster.hold(old, "persist", str(member.pid))
    dropping = asyncio.create_task(cluster.drop(old, member))  # ends once persist has run
    await hold.wait()
    await cluster.publish(MISSED)
    await recovered(member, new, sid)
    hold.resume()
    await dropping
    assert not await cluster.kept(str(member.pid))  # the late step did not keep it again
    await cluster.all_received(member)
    await cluster.drop(new, member)
    await kept(cluster, member)
    await cluster.publish(3)
    await recovered(member, old, sid)
    await cluster.all_received(member)


@pytest.mark.parametrize("point", ["claimed", "connected", "replaying"])
async def test_what_is_sent_during_a_restore_comes_after_what_was_missed(
    cluster: Cluster, member: Member, point: str
) -> None:
    """Packets sent while the client is being restored (before or during its replay) reach
    it after everything it missed, each once."""
    first, restorer = cluster.nodes[0], cluster.nodes[-1]
    sid = await away(cluster, member, first)
    await cluster.publish(MISSED)
    hold = cluster.hold(restorer, point, str(member.pid))
    restoring = asyncio.create_task(recovered(member, restorer, sid))
    await hold.wait()
    await cluster.publish(5)
    hold.resume()
    await restoring
    await cluster.all_received(member)


@pytest.mark.parametrize("order", ["old_drop_first", "claim_first"])
async def test_a_claim_that_meets_the_old_node_keeping_the_session_is_recovered(
    cluster: Cluster, member: Member, order: str
) -> None:
    """The client reconnects elsewhere before its old node noticed the drop; the new node's
    claim is held at its start while the old node keeps the session (or not yet)."""
    old, new = cluster.nodes[0], cluster.nodes[-1]
    sid = await joined(cluster, member, old)
    old_eio_sid = member.eio_sid
    await cluster.publish(MISSED)  # the old connection still gets these
    hold = cluster.hold(new, "claim", str(member.pid))
    reconnecting = asyncio.create_task(recovered(member, new, sid))
    await hold.wait()
    if order == "old_drop_first":
        await old.app[SIO].close_transport(old_eio_sid)
        await kept(cluster, member)
        hold.resume()
    else:
        hold.resume()  # the old connection is dropped by the claimer
    await reconnecting
    await cluster.all_received(member)
    await cluster.drop(new, member)
    await kept(cluster, member)
    await recovered(member, old, sid)
    await cluster.all_received(member)


async def test_a_takeover_that_comes_late_drops_only_the_connection_it_took_over(
    cluster: Cluster, member: Member
) -> None:
    """The client's first connection is still open on A; it reconnects to B, whose claim is
    held before it drops that first connection; meanwhile it reconnects once more, to A. The
    late takeover from B must not drop the newest connection (python-socketio's bus
    disconnect names only a sid: a client so dropped is told "io server disconnect" and
    stays offline)."""
    first, other = cluster.nodes[0], cluster.nodes[-1]
    sid = await joined(cluster, member, first)
    hold = cluster.hold(other, "claimed", str(member.pid))
    abandoned = asyncio.create_task(member.connect(other))  # its claim is held
    await hold.wait()
    await cluster.publish(3)
    await recovered(member, first, sid)  # the newest connection, on A again
    newest = member.client
    hold.resume()
    await abandon(abandoned)
    await _bus_round_trip(other, first)  # what B sent over the bus has reached A
    assert newest is member.client and newest is not None and newest.connected
    await cluster.all_received(member)


async def test_a_takeover_of_a_connection_still_closing_leaves_the_new_one_alone(
    cluster: Cluster, member: Member
) -> None:
    """The client's connection closes on A, and A's disconnect handler takes its time
    (python-socketio holds the sid as pending its disconnect meanwhile); the client
    reconnects, to B (with Redis) or to A again. Either way it is recovered once the old
    connection is gone: A, asked by B's takeover to drop a connection already on its way out,
    leaves it at that (passing the drop on as a bus disconnect that names only the sid would
    cut the recovered connection on B: "io server disconnect", and a stock client stays
    offline); on A alone, the claim waits for the old connection to leave instead of
    connecting fresh inside the window."""
    first, other = cluster.nodes[0], cluster.nodes[-1]
    sid = await joined(cluster, member, first)
    gate = DISCONNECT_GATES[sid] = Gate()
    dropping = asyncio.create_task(cluster.drop(first, member))  # ends when the gate opens
    reconnecting: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(gate.entered.wait(), 10)
        await cluster.publish(3)
        hold = cluster.hold(other, "claimed", str(member.pid))
        reconnecting = asyncio.create_task(recovered(member, other, sid))
        await hold.wait()
        hold.resume()  # the claimer drops the old connection, here or through the bus
        await _bus_round_trip(other, first)  # ... and A has had that drop
        gate.open.set()
        await asyncio.wait_for(dropping, 10)
        await asyncio.wait_for(reconnecting, 10)
        newest = member.client
        await _bus_round_trip(first, other)  # whatever A sent since has reached B
    finally:
        gate.open.set()
        DISCONNECT_GATES.pop(sid, None)
        await abandon(dropping)
        if reconnecting is not None:
            await abandon(reconnecting)
    assert newest is member.client and newest is not None and newest.connected
    assert (await member.call("state"))["recovered"] is True
    await cluster.all_received(member)


async def test_a_reconnect_whose_old_connection_does_not_leave_in_time_connects_fresh(
    cluster: Cluster,
    member: Member,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The client's connection closes and its disconnect handler outlasts ``LEAVING_WAIT``;
    the client reconnects to the same node meanwhile. Mistakes: the claim waits for the old
    connection without a bound (the client hangs), or goes on past the bound with the old
    connection still there (two connections of one sid). It connects fresh once the bound
    has passed, and is a client like any other from then on."""
    monkeypatch.setattr(sessions, "LEAVING_WAIT", 0.3)
    node = cluster.nodes[0]
    sid = await joined(cluster, member, node)
    gate = DISCONNECT_GATES[sid] = Gate()
    dropping = asyncio.create_task(cluster.drop(node, member))  # ends when the gate opens
    try:
        await asyncio.wait_for(gate.entered.wait(), 10)
        who = await asyncio.wait_for(member.connect(node), 5)
        assert who["sid"] != sid
        assert (await member.call("state"))["recovered"] is False
        why = f"recovery of {NS}: an older connection is still leaving"
        assert [r.getMessage() for r in caplog.records if r.msg.startswith("recovery of")] == [why]
        metrics = await scrape(node.make_url("/metrics"))
        misses = metrics.value(
            "socketsvc_recovery_misses_total", namespace=NS, reason="unknown_session"
        )
        assert misses == 1
    finally:
        gate.open.set()
        DISCONNECT_GATES.pop(sid, None)
        await abandon(dropping)
    assert await member.call("enter", "r") is True
    await cluster.all_received(member)


async def _bus_round_trip(sender: TestServer, receiver: TestServer) -> None:
    """Wait until what ``sender`` put on the bus before now has reached ``receiver``: the
    bus keeps one node's messages in order, so one more arriving means the earlier did."""
    watcher = socketio.AsyncClient(reconnection=False)
    try:
        await watcher.connect(str(receiver.make_url("/")), namespaces=["/test"], wait_timeout=5)
        pings = Inbox(watcher, "ping", "/test")
        await sender.app[SIO].emit("ping", 1, namespace="/test")
        assert await pings.get() == 1
    finally:
        await watcher.disconnect()
        await watcher.shutdown()
