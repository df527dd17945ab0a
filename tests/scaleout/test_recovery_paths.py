"""Recovery's second paths: who a missed packet was meant for, how much the log keeps, and
which namespaces have recovery. Each test pins what a client sees that a plausible one-line
mistake would change (named in its docstring; the hand-written mutants of
scripts/hand_mutants/sio-recovery.toml and the others are such mistakes)."""

from __future__ import annotations

import aiohttp
import pytest

from socketsvc.app.factory import SIO
from tests import raw_client
from tests.conftest import TEST_NAMESPACES, StartServer
from tests.recovering import (  # noqa: F401 - fixtures
    NS,
    Cluster,
    MakeCluster,
    Member,
    joined,
    make_cluster_fixture,
    member_fixture,
    recovered,
    until,
    wait_for,
)


async def kept(cluster: Cluster, member: Member) -> None:
    await wait_for(lambda: cluster.kept(str(member.pid)))


async def test_a_broadcast_to_the_others_is_not_replayed_to_its_sender(
    make_cluster: MakeCluster, member: Member
) -> None:
    """Mistake: the replay ignores an emit's ``skip_sid``. A client that sent to the others of
    its room (it never got that packet) and then dropped does not get its own message back
    when it recovers."""
    cluster = await make_cluster()
    first, last = cluster.nodes[0], cluster.nodes[-1]
    sid = await joined(cluster, member, first)
    assert await member.call("tell_others", "r", "mine") is True
    await cluster.drop(first, member)
    await kept(cluster, member)
    await cluster.publish(2)
    await recovered(member, last, sid)
    await cluster.all_received(member)  # not "mine"


async def test_what_was_sent_to_the_clients_own_sid_meanwhile_is_replayed(
    make_cluster: MakeCluster, member: Member
) -> None:
    """Mistake: the replay looks for the client's rooms only, not its sid (a room of one), or
    takes a room given as one string for a set of one-letter rooms. A direct message sent
    while the client was away is replayed, in order with its room's packets."""
    cluster = await make_cluster()
    first, last = cluster.nodes[0], cluster.nodes[-1]
    sid = await joined(cluster, member, first)
    await cluster.drop(first, member)
    await kept(cluster, member)
    for node in cluster.nodes:
        await cluster.publish(1)
        n = len(cluster.sent) + 1
        await node.app[SIO].emit("news", n, namespace=NS, to=sid)
        cluster.sent.append(n)
    await recovered(member, last, sid)
    await cluster.all_received(member)


# Packets of "news" with a small number and a memory offset ("<8 hex>-<n>") take 18 bytes
# each in the log: 60 bytes hold 3 of them, as 3 packets do.
LIMITS = [{"recovery_max_packets": 3}, {"recovery_max_bytes": 60}]


@pytest.mark.parametrize("limit", LIMITS, ids=["packets", "bytes"])
async def test_a_client_that_missed_more_than_the_log_keeps_connects_fresh(
    start_server: StartServer, member: Member, limit: dict[str, int]
) -> None:
    """Mistake: the eviction check is off by one, or the log is bounded by count only. A
    client that missed as much as the log holds is recovered with all of it; one that missed
    one packet more (evicted) connects fresh, not recovered with a hole."""
    cluster = Cluster([await start_server(**limit)])
    node = cluster.nodes[0]
    sid = await joined(cluster, member, node)
    await cluster.drop(node, member)
    await kept(cluster, member)
    await cluster.publish(3)  # all the log holds
    await recovered(member, node, sid)
    await cluster.all_received(member)
    await cluster.drop(node, member)
    await kept(cluster, member)
    await cluster.publish(4)  # the first of them is evicted by the last
    again = await member.connect(node)
    assert again["sid"] != sid
    assert (await member.call("state"))["recovered"] is False


async def test_a_prefix_window_covers_one_level_of_namespaces(start_server: StartServer) -> None:
    """Mistake: a ``/prefix/*`` window in ``[namespace_recovery]`` also covers namespaces
    nested deeper. ``/kept/*`` gives ``/kept/a`` recovery (its CONNECT carries a pid), not
    ``/kept/a/b`` (served by another pattern, without recovery)."""
    namespaces = {**TEST_NAMESPACES, "/kept/a/*": TEST_NAMESPACES["/kept/*"]}
    server = await start_server(namespaces=namespaces, namespace_recovery={"/kept/*": 30.0})
    async with aiohttp.ClientSession() as http:
        for namespace, recovering in [("/kept/a", True), ("/kept/a/b", False)]:
            ws, hello = await raw_client.join(http, server, namespace)
            assert ("pid" in hello) is recovering, (namespace, hello)
            await ws.close()
