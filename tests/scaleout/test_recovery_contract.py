"""What a recovering client sees, on every backend: one node in memory, and two nodes on one
redis-server (the client recovering on the other node). Each test pins a behaviour a
plausible one-line mistake in recovery would change (named in its docstring)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest
import socketio

from socketsvc.app.factory import BACKENDS, SIO
from tests import raw_client
from tests.recovering import (  # noqa: F401 - fixtures
    NS,
    Cluster,
    MakeCluster,
    Member,
    away,
    joined,
    kept,
    make_cluster_fixture,
    member_fixture,
    recovered,
    until,
    wait_for,
)


async def test_a_session_is_claimed_once_and_a_second_claim_takes_it_over(
    make_cluster: MakeCluster, member: Member
) -> None:
    """Mistake: the log keeps a session after handing it to a reconnect (two connections
    would share it). A second reconnect with the same pid takes the session over: the first
    connection is dropped, the second gets it, and packets reach the client once."""
    cluster = await make_cluster()
    first, last = cluster.nodes[0], cluster.nodes[-1]
    sid = await away(cluster, member, first)
    await cluster.publish(5)
    await recovered(member, last, sid)
    assert not await cluster.kept(str(member.pid))  # live now, not waiting
    earlier = member.client
    assert earlier is not None
    await recovered(member, first, sid)  # the same pid again (say, the network changed)
    await until(lambda: not earlier.connected)
    await cluster.all_received(member)


async def test_a_connection_lost_by_ping_timeout_is_kept(make_cluster: MakeCluster) -> None:
    """Mistake: only closes and errors keep a session. A client that stops answering pings
    (a phone that lost its network without a word) is recovered too."""
    cluster = await make_cluster(ping_interval=0.2, ping_timeout=0.2)
    first, last = cluster.nodes[0], cluster.nodes[-1]
    async with aiohttp.ClientSession() as http:
        silent, hello = await raw_client.join(http, first, NS)  # answers no ping
        assert await raw_client.ask(silent, NS, 1, "enter", "r") is True
        await wait_for(lambda: first.app[BACKENDS].recovery.pending(NS, hello["pid"]))
        await silent.close()
    await cluster.publish(2)
    member = Member()
    member.pid = hello["pid"]
    try:
        who = await member.connect(last)
        assert who["sid"] == hello["sid"]
        await cluster.all_received(member)
    finally:
        await member.close()


async def test_the_connect_handler_sees_the_auth_without_pid_and_offset(
    make_cluster: MakeCluster, member: Member
) -> None:
    """Mistake: ``pid`` and ``offset`` stay in the auth ``on_connect`` gets. The application
    sees only its own fields, whether the session is recovered or not."""
    cluster = await make_cluster()
    first, last = cluster.nodes[0], cluster.nodes[-1]
    who = await member.connect(first, auth={"token": "t"})
    assert who["auth"] == {"token": "t"}
    assert await member.call("enter", "r") is True
    await cluster.publish(1)
    await until(lambda: len(member.got) == 1)
    await cluster.drop(first, member)
    await kept(cluster, member)
    again = await member.connect(last, auth={"token": "t"})
    assert again["sid"] == who["sid"] and again["auth"] == {"token": "t"}
    stranger = Member(member.serializer, member.transport)
    stranger.pid, stranger.offset = "forged", member.offset
    try:
        fresh = await stranger.connect(first, auth={"token": "u"})
        assert fresh["sid"] != who["sid"] and fresh["auth"] == {"token": "u"}
    finally:
        await stranger.close()


async def test_what_another_namespace_sent_meanwhile_is_not_replayed(
    make_cluster: MakeCluster, member: Member
) -> None:
    """Mistake: the replay does not filter by namespace (the Redis stream holds every
    namespace's packets). A client recovered in one namespace gets only its own."""
    cluster = await make_cluster(namespace_recovery={"/chat": 0, "/test": 30.0})
    first, last = cluster.nodes[0], cluster.nodes[-1]
    sid = await away(cluster, member, first)
    for node in cluster.nodes:
        await node.app[SIO].emit("news", "elsewhere", namespace="/test")
        await node.app[SIO].emit("news", "elsewhere", namespace="/test", to="r")
    await cluster.publish(3)
    await recovered(member, last, sid)
    await cluster.all_received(member)


async def test_a_kept_session_lasts_its_window_and_no_longer(
    make_cluster: MakeCluster, member: Member
) -> None:
    """Mistake: the window is given to the store in the wrong unit (seconds for milliseconds:
    a 1 s window kept 1 ms; or the other way: kept a thousand times too long). A client away
    0.3 s of a 1 s window is recovered; one away 1.5 s connects fresh."""
    cluster = await make_cluster(namespace_recovery={"/chat": 0, "/recovering": 1.0})
    first, last = cluster.nodes[0], cluster.nodes[-1]
    sid = await away(cluster, member, first)
    await asyncio.sleep(0.3)  # away: what the test is about
    await recovered(member, last, sid)
    await cluster.drop(last, member)
    await kept(cluster, member)
    await asyncio.sleep(1.5)
    again = await member.connect(first)
    assert again["sid"] != sid
    assert (await member.call("state"))["recovered"] is False


async def test_a_pid_restores_a_session_of_its_own_namespace_only(
    make_cluster: MakeCluster, member: Member
) -> None:
    """Mistake: a pid claims a session whatever its namespace. A pid given to another
    namespace connects fresh there, and the session stays for its own namespace."""
    cluster = await make_cluster(namespace_recovery={"/chat": 0, "/test": 30.0})
    first, last = cluster.nodes[0], cluster.nodes[-1]
    sid = await away(cluster, member, first)
    other = socketio.AsyncClient(reconnection=False)
    try:
        await other.connect(
            str(last.make_url("/")),
            namespaces=["/test"],
            transports=["websocket"],
            auth={"pid": member.pid, "offset": member.offset},
            wait_timeout=5,
        )
        assert other.get_sid("/test") != sid
    finally:
        await other.disconnect()
        await other.shutdown()
    assert await cluster.kept(str(member.pid))
    await recovered(member, last, sid)
    await cluster.all_received(member)


async def test_a_handler_emit_the_log_cannot_keep_is_refused_once_per_cause(
    make_cluster: MakeCluster, member: Member, caplog: pytest.LogCaptureFixture
) -> None:
    """Mistake: a value the log cannot keep (an integer past 64 bits) raises out of the emit
    as a crash, or reaches some clients only. It reaches nobody, the handler's caller gets
    ``unencodable``, and the log says so once per cause, without a traceback."""
    cluster = await make_cluster()
    await joined(cluster, member, cluster.nodes[0])
    sender = Member("json", "websocket")
    try:
        await sender.connect(cluster.nodes[-1])
        for _ in range(5):
            answer: Any = await sender.call("tell", "r", {"n": 2**70})
            assert answer["error"]["code"] == "unencodable", answer
    finally:
        await sender.close()
    await cluster.all_received(member)  # none of them in between
    refusals = [r for r in caplog.records if "integer" in r.getMessage().lower()]
    assert len(refusals) == 1, [r.getMessage() for r in refusals]  # on the emitting node
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize("window", [0, 30.0], ids=["without-recovery", "with-recovery"])
async def test_a_retried_chat_message_is_sent_once_wherever_the_retry_lands(
    make_cluster: MakeCluster, window: float
) -> None:
    """A send repeated with the same ``client_id`` (its ack was lost) is answered with the
    first ack and reaches the room once: on the same node, and (with recovery, the sender's
    session surviving its reconnect) after the sender comes back on the other node. With
    Redis and recovery, checking the key and storing the message are one step, so a node
    dying between them cannot make the retry's message vanish (bench/chaos.py ``kill``)."""
    cluster = await make_cluster(namespace_recovery={"/chat": window})
    first, last = cluster.nodes[0], cluster.nodes[-1]
    sender = socketio.AsyncClient(reconnection=False)
    bob = socketio.AsyncClient(serializer="msgpack", reconnection=False)
    messages: list[Any] = []
    bob.on("message", lambda m, *offset: messages.append(m["text"]), namespace="/chat")
    try:
        for client, node, name in [(sender, first, "alice"), (bob, last, "bob")]:
            await client.connect(str(node.make_url("/")), namespaces=["/chat"], wait_timeout=5)
            await client.call("join", {"room": "r", "name": name}, namespace="/chat", timeout=5)
        send = {"room": "r", "text": "once", "client_id": "m-1"}
        ack = await sender.call("message", send, namespace="/chat", timeout=5)
        assert await sender.call("message", send, namespace="/chat", timeout=5) == ack
        if window:
            pid = first.app[SIO].session_pid(sender.get_sid("/chat"))
            await first.app[SIO].close_transport(sender.eio.sid)
            assert pid is not None
            await wait_for(lambda: first.app[BACKENDS].recovery.pending("/chat", pid))
            await sender.shutdown()
            sender = socketio.AsyncClient(reconnection=False)
            await sender.connect(
                str(last.make_url("/")), namespaces=["/chat"], auth={"pid": pid}, wait_timeout=5
            )
            assert await sender.call("message", send, namespace="/chat", timeout=5) == ack
        then = {"room": "r", "text": "then", "client_id": "m-2"}
        assert await sender.call("message", then, namespace="/chat", timeout=5) != ack
        await until(lambda: "then" in messages)
        assert messages == ["once", "then"]
    finally:
        for client in (sender, bob):
            if client.connected:
                await client.disconnect()
            await client.shutdown()
