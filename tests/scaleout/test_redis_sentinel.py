"""Redis Sentinel: a SIGKILLed primary under a steady publish loses nothing and repeats nothing
in a namespace with recovery; the nodes say ``redis_failover`` meanwhile, then serve on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections import Counter
from typing import Any

import aiohttp
import pytest
import socketio

from socketsvc.app.factory import SIO
from socketsvc.config import Settings
from socketsvc.emitter import Emitter
from socketsvc.scaleout import redis_recovery
from socketsvc.scaleout.bus import stream_entry, stream_key
from socketsvc.scaleout.recovery_scripts import APPEND
from socketsvc.scaleout.redis_failover import replicated
from socketsvc.scaleout.redis_health import redis_client
from socketsvc.scaleout.redis_topology import connection_url
from tests import raw_client
from tests.app.test_metrics import scrape
from tests.conftest import StartServer
from tests.recovering import wait_for
from tests.redis_ha_support import SentinelGroup, sentinel_group  # noqa: F401 - a fixture

KEY = "sentinel-test-key"
MESSAGES = 120  # at 20/s: 6 s of publishing
KILL_AT = 30  # the primary is SIGKILLed after this many were sent


async def joined(
    node: Any, serializer: str, inbox: list[int], all_in: asyncio.Event, emitted: asyncio.Event
) -> socketio.AsyncClient:
    member = socketio.AsyncClient(serializer=serializer, reconnection=False)

    def notice(data: Any, *_offset: Any) -> None:
        if data["n"] == "emitter":
            emitted.set()
            return
        inbox.append(data["n"])
        if len(inbox) >= MESSAGES:
            all_in.set()

    member.on("notice", notice, namespace="/chat")
    await member.connect(
        str(node.make_url("/")), namespaces=["/chat"], transports=["websocket"], wait_timeout=5
    )
    await member.call("join", {"room": "news", "name": serializer}, namespace="/chat", timeout=5)
    return member


async def test_a_failover_loses_and_repeats_nothing_where_namespaces_recover(
    sentinel_group: SentinelGroup,  # noqa: F811 - first: it must outlive the nodes
    start_server: StartServer,
    redis_prefix: str,
) -> None:
    group = sentinel_group
    shared = {**group.settings(), "redis_prefix": redis_prefix, "api_key": KEY}
    shared["namespace_recovery"] = {"/chat": 120}
    a, b = await start_server(**shared), await start_server(**shared)
    inboxes: dict[str, list[int]] = {"default": [], "msgpack": []}
    complete = {name: asyncio.Event() for name in inboxes}
    emitted = {name: asyncio.Event() for name in inboxes}
    members = [
        await joined(node, name, inboxes[name], complete[name], emitted[name])
        for node, name in ((a, "default"), (b, "msgpack"))
    ]
    failover_seen: set[str] = set()
    publishing = True

    async def watch(http: aiohttp.ClientSession) -> None:
        while publishing:
            for name, node in (("a", a), ("b", b)):
                async with http.get(node.make_url("/readyz")) as r:
                    if r.status == 503 and "redis_failover" in await r.text():
                        failover_seen.add(name)
            await asyncio.sleep(0.05)

    async def publish(http: aiohttp.ClientSession, n: int) -> int:
        body = {"namespace": "/chat", "room": "news", "event": "notice", "data": {"n": n}}
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        async with http.post(
            a.make_url("/api/v1/emit"), data=json.dumps(body), headers=headers
        ) as r:
            return r.status

    try:
        async with aiohttp.ClientSession() as http:
            watcher = asyncio.create_task(watch(http))
            posts = []
            for n in range(MESSAGES):  # a steady 20/s, whether or not earlier ones answered
                posts.append(asyncio.create_task(publish(http, n)))
                if n == KILL_AT:
                    group.primary.stop(signal.SIGKILL)
                await asyncio.sleep(0.05)
            statuses = await asyncio.wait_for(asyncio.gather(*posts), 40)
            publishing = False
            await watcher
        assert Counter(statuses) == {202: MESSAGES}, group.logs()
        assert group.primary_is(group.replica_port)

        with contextlib.suppress(TimeoutError):  # then say what is missing
            async with asyncio.timeout(20):
                for event in complete.values():
                    await event.wait()
        for inbox in inboxes.values():
            counts = Counter(inbox)
            lost = [n for n in range(MESSAGES) if n not in counts]
            repeated = [n for n, times in counts.items() if times > 1]
            assert (lost, repeated, len(inbox)) == ([], [], MESSAGES), group.logs()
        assert failover_seen == {"a", "b"}  # /readyz said so on both nodes meanwhile
        async with aiohttp.ClientSession() as http:
            for node in (a, b):
                async with http.get(node.make_url("/readyz")) as r:
                    assert r.status == 200, await r.text()
        # The emitter follows Sentinel too: its URL names the Sentinels, not the old primary.
        url = connection_url(Settings(**shared))
        async with Emitter(url, prefix=redis_prefix) as emitter:
            data = {"n": "emitter"}
            await emitter.emit("notice", data, namespace="/chat", to="news", recoverable=True)
        async with asyncio.timeout(5):
            for event in emitted.values():
                await event.wait()
    finally:
        for member in members:
            await member.disconnect()
            await member.shutdown()


async def test_an_append_retried_after_a_lost_answer_is_not_stored_twice(
    redis_url: str, redis_prefix: str
) -> None:
    """With Sentinel each emit's key (``node#n``) is the APPEND script's once-key: the same
    append again (its answer lost with the old primary) adds nothing."""
    client = redis_client(redis_url)
    try:
        append = client.register_script(APPEND)
        stream = stream_key(redis_prefix)

        async def once(origin: bytes) -> Any:
            keys = [stream, f"{redis_prefix}:rappend:{origin.decode()}"]
            return await append(keys=keys, args=[100, "0-0", b"m", origin, b"", 60_000])

        first, again, other = await once(b"n1#1"), await once(b"n1#1"), await once(b"n1#2")
        assert first[0][0][0] == 1 and again[0] == [[0, b""]] and other[0][0][0] == 1
        assert await client.xlen(stream) == 2
    finally:
        await client.aclose()


async def test_an_entry_appended_again_after_a_failover_is_delivered_once(
    start_server: StartServer, redis_url: str, redis_prefix: str
) -> None:
    """What a reader took from the old primary just before it died, without the replica
    having it, its node appends again with the same key: readers drop the repeat."""
    node = await start_server(manager="redis", redis_url=redis_url, redis_prefix=redis_prefix)
    client = redis_client(redis_url)
    try:
        async with aiohttp.ClientSession() as http:
            reader, _ = await raw_client.join(http, node, "/recovering", None)
            assert await raw_client.ask(reader, "/recovering", 1, "enter", "r") is True
            for text, key in (("once", b"n1#1"), ("once", b"n1#1"), ("next", b"n1#2")):
                fields = stream_entry("/recovering", frozenset({"r"}), frozenset(), ["news", text])
                await client.xadd(stream_key(redis_prefix), {**fields, "o": key})  # type: ignore[dict-item]
            frames = [await reader.receive_str(timeout=5) for _ in range(2)]
            assert [json.loads(f.split(",", 1)[1])[1] for f in frames] == ["once", "next"]
            await reader.close()
    finally:
        await client.aclose()


async def test_an_emit_whose_answer_was_lost_is_retried_and_stored_once(
    sentinel_group: SentinelGroup,  # noqa: F811 - first: it must outlive the node
    start_server: StartServer,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first APPEND of an emit reaches Redis but its answer is lost (the connection
    breaks, as when the primary dies right after): the node retries it through the failover
    with the same key, and the stream holds it once, so a recovering client cannot get it
    twice. Mistake: plain emits are not keyed under Sentinel, or their key expires at once."""
    answers_lost = 0

    async def answer_lost_once(*args: Any) -> Any:
        nonlocal answers_lost
        answer = await replicated(*args)
        if answers_lost == 0:
            answers_lost += 1
            raise ConnectionError("the answer was lost")
        return answer

    monkeypatch.setattr(redis_recovery, "replicated", answer_lost_once)
    settings = {**sentinel_group.settings(), "redis_prefix": redis_prefix}
    node = await start_server(**settings, namespace_recovery={"/recovering": 60})
    await node.app[SIO].emit("news", "once", namespace="/recovering", to="r")
    assert answers_lost == 1
    client = redis_client(connection_url(Settings(**settings)))
    try:
        entries = await client.xrange(stream_key(redis_prefix))
        assert len(entries) == 1, entries
    finally:
        await client.aclose()


async def test_bus_messages_sent_during_a_failover_are_held_not_dropped(
    sentinel_group: SentinelGroup,  # noqa: F811 - first: it must outlive the node
    start_server: StartServer,
    redis_prefix: str,
) -> None:
    """Without recovery the bus is at most once, but with Sentinel what a node publishes while
    it waits for the promoted replica is held and retried, not dropped: sent once the node
    says ``redis_failover`` on /readyz, each message is published once the replica answers
    (counted published, none dropped)."""
    group = sentinel_group
    node = await start_server(**group.settings(), redis_prefix=redis_prefix)
    sio = node.app[SIO]
    group.primary.stop(signal.SIGKILL)
    async with aiohttp.ClientSession() as http:
        async with asyncio.timeout(20):
            while True:  # the bus noticed: its listener lost its connection
                async with http.get(node.make_url("/readyz")) as r:
                    if r.status == 503 and "bus: redis_failover" in await r.text():
                        break
                await asyncio.sleep(0.05)
        for n in range(10):
            await sio.emit("notice", {"n": n}, namespace="/chat", to="news")
        async with asyncio.timeout(30):
            while True:
                metrics = await scrape(node.make_url("/metrics"))
                assert metrics.value("socketsvc_bus_dropped_total") == 0, group.logs()
                if metrics.value("socketsvc_bus_published_total") >= 10:
                    break
                await asyncio.sleep(0.1)
    assert group.primary_is(group.replica_port)


async def test_a_bus_that_gave_up_waiting_for_a_failover_publishes_again_after_it(
    sentinel_group: SentinelGroup,  # noqa: F811 - first: it must outlive the node
    start_server: StartServer,
    redis_prefix: str,
) -> None:
    """Past ``redis_failover_timeout`` a held message is dropped (counted), and the bus goes
    on: once the replica is promoted, what the node sends is published again."""
    group = sentinel_group
    settings = {**group.settings(), "redis_failover_timeout": 0.3}
    node = await start_server(**settings, redis_prefix=redis_prefix)
    sio = node.app[SIO]
    group.primary.stop(signal.SIGKILL)

    async def bus_counts() -> tuple[float, float]:
        metrics = await scrape(node.make_url("/metrics"))
        published = metrics.value("socketsvc_bus_published_total")
        return published, metrics.value("socketsvc_bus_dropped_total")

    async def dropped_one() -> bool:
        return (await bus_counts())[1] >= 1

    async with aiohttp.ClientSession() as http, asyncio.timeout(40):
        while True:  # the bus noticed: its listener lost its connection
            async with http.get(node.make_url("/readyz")) as r:
                if r.status == 503 and "bus: redis_failover" in await r.text():
                    break
            await asyncio.sleep(0.05)
        await sio.emit("notice", {"n": 1}, namespace="/chat", to="news")
        await wait_for(dropped_one, 10)  # given up on
        while True:  # promoted, and the node's bus is up on it
            async with http.get(node.make_url("/readyz")) as r:
                if r.status == 200 and group.primary_is(group.replica_port):
                    break
            await asyncio.sleep(0.1)
        published, _ = await bus_counts()
        await sio.emit("notice", {"n": 2}, namespace="/chat", to="news")

        async def published_again() -> bool:
            return (await bus_counts())[0] > published

        await wait_for(published_again, 10)
