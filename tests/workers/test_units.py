"""The pieces of ``--workers`` that need no processes: the ``workers`` setting, session tags,
the frames between processes, and what the hub keeps."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path
from typing import Any

import pytest

from socketsvc import config
from socketsvc.config.derived import cores
from socketsvc.errors import ConfigError
from socketsvc.scaleout import bus
from socketsvc.sio.observer import Observer
from socketsvc.sio.recovery import Session, Unavailable, Windows
from socketsvc.workers import link as link_module
from socketsvc.workers import local_recovery
from socketsvc.workers.client import GONE, HubClient
from socketsvc.workers.hub import Hub
from socketsvc.workers.link import Kind, Link, frame, packed
from socketsvc.workers.local_manager import LocalManager
from socketsvc.workers.sockets import owner, tag
from socketsvc.workers.stores import HubPresence, HubRecovery
from tests.cli_node import run_cli

# -- the setting -----------------------------------------------------------------------------


def test_workers_default_to_one_and_auto_is_the_cores(tmp_path: Path) -> None:
    assert config.load(environ={}).workers == 1
    assert config.load(environ={"SOCKETSVC_WORKERS": "auto"}).workers == cores()
    path = tmp_path / "s.toml"
    path.write_text('workers = "auto"\n')
    assert config.load(path, environ={}).workers == cores()
    path.write_text("workers = 3\n")
    assert config.load(path, environ={}).workers == 3


@pytest.mark.parametrize(
    "value, message",
    [
        ("0", "workers: 0 is not between 1 and 256 (or auto)"),
        ("257", "workers: 257 is not between 1 and 256 (or auto)"),
        ("many", "workers: 'many' from environment variable SOCKETSVC_WORKERS is not a valid "
         "integer or 'auto'"),
    ],
)  # fmt: skip
def test_bad_worker_counts_name_the_setting(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config.load(environ={"SOCKETSVC_WORKERS": value})


async def test_a_bad_workers_flag_exits_2() -> None:
    status, output = await run_cli("serve", "--workers", "lots")
    assert status == 2
    assert "workers: 'lots' from --workers is not a valid integer or 'auto'" in output


# -- session tags ------------------------------------------------------------------------------


def test_every_worker_has_a_tag_its_sessions_are_known_by() -> None:
    for index in range(4096):
        assert owner(tag(index) + "RandomPartOfTheSid", 4096) == index
    assert owner(tag(3) + "xyz", 2) is None  # no such worker
    for forged in ("", "A", "AA", "!!xyz", "é€xyz"):
        assert owner(forged, 2) is None


# -- frames ------------------------------------------------------------------------------------


async def linked(
    received: list[tuple[Kind, bytes]], expected: int = 0
) -> tuple[Link, Link, asyncio.Transport, asyncio.Event, asyncio.Event]:
    """Two links over a socketpair: what the second receives is appended to ``received``; the
    first event is set once ``expected`` frames arrived, the second when the receiver is lost."""
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair()
    arrived, lost = asyncio.Event(), asyncio.Event()

    def on_frame(link: Link, kind: Kind, payload: bytes) -> None:
        received.append((kind, payload))
        if len(received) >= expected:
            arrived.set()

    _, sender = await loop.connect_accepted_socket(
        lambda: Link(lambda *_: None, lambda _: None), left
    )
    transport, receiver = await loop.connect_accepted_socket(
        lambda: Link(on_frame, lambda _: lost.set()), right
    )
    return sender, receiver, transport, arrived, lost


async def test_frames_arrive_whole_and_in_order() -> None:
    received: list[tuple[Kind, bytes]] = []
    payloads = [bytes([n % 256]) * (n * 997 % 70_000) for n in range(300)]
    sender, receiver, _, arrived, _ = await linked(received, len(payloads) + 1)
    try:
        for payload in payloads:
            sender.send(frame(Kind.BUS, payload))
        sender.send(packed(Kind.CALL, [1, "presence", "members", ["/chat", "lobby"]]))
        async with asyncio.timeout(5):
            await arrived.wait()
        assert received[:-1] == [(Kind.BUS, p) for p in payloads]
        assert received[-1][0] is Kind.CALL
        assert bus.unpack(received[-1][1]) == [1, "presence", "members", ["/chat", "lobby"]]
    finally:
        sender.close()
        receiver.close()


async def test_a_peer_that_stops_reading_loses_bus_frames_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(link_module, "BUS_LIMIT", 64 * 1024)
    monkeypatch.setattr(link_module, "HARD_LIMIT", 1024 * 1024)
    received: list[tuple[Kind, bytes]] = []
    sender, receiver, transport, _, _ = await linked(received)
    transport.pause_reading()
    try:
        sent = [sender.send(frame(Kind.BUS, b"x" * 1000), droppable=True) for _ in range(2000)]
        assert sender.dropped > 0 and sent.count(False) == sender.dropped
        # what may not be dropped waits, up to the hard limit, then the peer is cut off
        accepted = [sender.send(frame(Kind.ENTRY, b"y" * 10_000)) for _ in range(200)]
        assert accepted.count(False) > 0 and accepted[0]
        assert not sender.open
    finally:
        sender.close()
        receiver.close()


async def test_a_frame_of_an_absurd_size_closes_the_link() -> None:
    received: list[tuple[Kind, bytes]] = []
    sender, receiver, _, _, lost = await linked(received)
    assert sender.transport is not None
    sender.transport.write(b"\xff\xff\xff\xff\x03")
    async with asyncio.timeout(5):
        await lost.wait()
    assert not receiver.open
    assert received == []
    sender.close()


# -- the hub's one order ------------------------------------------------------------------------


def stored(text: str, once: list[Any] | None = None) -> list[Any]:
    return ["/r", None, [], 60.0, bus.pack(["news", text]), once]


async def test_an_emit_awaited_on_one_worker_comes_before_a_later_one_on_another(
    tmp_path: Path,
) -> None:
    """A handler's ``await emit`` on worker 0, then (its ack seen by the client) an emit on
    worker 1: every worker delivers them in that order, also when the hub is slow to read
    worker 0 (here it stops reading it until worker 1 appended, or for 0.5 s)."""
    hub = Hub(config.load(environ={}), str(tmp_path / "hub.sock"))
    await hub.start()
    workers = [HubClient(0), HubClient(1)]
    try:
        for worker in workers:
            await worker.connect(hub.path)
        seen: list[list[Any]] = []
        second_placed = asyncio.Event()

        def arrived(entry: list[Any]) -> None:
            seen.append(entry)
            if bus.unpack(entry[4])[1] == "second":
                second_placed.set()

        workers[1].on_entry = arrived
        slow = hub.workers[0].transport
        assert slow is not None
        slow.pause_reading()
        first = asyncio.create_task(workers[0].append(stored("first")))

        async def second() -> None:
            await first  # the client got the first handler's ack, then emits through worker 1
            assert (await workers[1].append(stored("second"))).placed

        later = asyncio.create_task(second())
        with contextlib.suppress(TimeoutError):  # the hub placed the second before the first
            await asyncio.wait_for(second_placed.wait(), 0.5)
        slow.resume_reading()
        async with asyncio.timeout(5):
            await later
        assert first.result().placed
        assert [bus.unpack(entry[4])[1] for entry in seen] == ["first", "second"]
        assert [entry[0] for entry in seen] == [1, 2]  # offset numbers, in that order
    finally:
        for worker in workers:
            worker.close()
        await hub.stop()


async def test_an_append_answers_false_when_the_hub_is_gone(tmp_path: Path) -> None:
    hub = Hub(config.load(environ={}), str(tmp_path / "hub.sock"))
    await hub.start()
    worker = HubClient(0)
    try:
        await worker.connect(hub.path)
        link = hub.workers[0].transport
        assert link is not None
        link.pause_reading()
        pending = asyncio.create_task(worker.append(stored("lost")))
        link.abort()  # the primary is gone before it read the append
        async with asyncio.timeout(5):
            assert await pending is GONE
        assert await worker.append(stored("after")) is GONE
    finally:
        worker.close()
        await hub.stop()


async def test_an_append_made_once_per_key_is_placed_once_on_any_worker(tmp_path: Path) -> None:
    """A retried send (sio/once.py) lands on another worker: the hub checks its key in the
    step that appends it, so it is placed once and the retry gets the first one's answer; a
    key that was never stored (its namespace has no recovery) is recorded as it is checked."""
    hub = Hub(config.load(environ={}), str(tmp_path / "hub.sock"))
    await hub.start()
    workers = [HubClient(0), HubClient(1)]
    try:
        for worker in workers:
            await worker.connect(hub.path)
        seen: list[list[Any]] = []
        workers[1].on_entry = seen.append
        once = ["k1", bus.pack({"id": "first"}), 30.0]
        async with asyncio.timeout(5):
            assert (await workers[0].append(stored("sent", once))).placed
            retried = await workers[1].append(stored("again", once))
            assert not retried.placed and retried.sent_before
            assert bus.unpack(retried.earlier) == {"id": "first"}
            assert (await workers[1].append(stored("other", ["k2", bus.pack(2), 30.0]))).placed
            assert [bus.unpack(entry[4])[1] for entry in seen] == ["sent", "other"]
            answer = bus.pack("ok")
            assert await workers[0].call("once", "first", "/plain", "k1", answer, 30.0) is None
            earlier = await workers[1].call("once", "first", "/plain", "k1", bus.pack("no"), 30.0)
            assert [bus.unpack(raw) for raw in earlier] == ["ok"]
    finally:
        for worker in workers:
            worker.close()
        await hub.stop()


async def test_a_restore_reads_what_was_missed_in_slices_and_fails_when_the_hub_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LocalRecovery.missed: slices of REPLAY_SLICE (here 2) up to the head the restore
    replays to, each after the last; Unavailable (a restore that cannot complete) once the
    primary is gone, never an empty answer taken for 'nothing missed'."""
    monkeypatch.setattr(local_recovery, "REPLAY_SLICE", 2)
    settings = config.load(environ={})
    hub = Hub(settings, str(tmp_path / "hub.sock"))
    await hub.start()
    worker = HubClient(0)
    try:
        await worker.connect(hub.path)
        log = local_recovery.LocalRecovery(worker, Windows(settings, lambda ns: 30.0))
        log.follow(lambda namespace, rooms, skip, args: None)
        start = log.head("/r")
        async with asyncio.timeout(5):
            for n in range(5):
                assert (await log.publish("/r", None, frozenset(), ["news", n])).placed
            head = log.head("/r")
            assert (await log.publish("/r", None, frozenset(), ["news", "after"])).placed
            session = Session("pid", "sid", "/r", start=start, holder="eio")
            slices = [s async for s in log.missed(session, None, head)]
            assert [[args[1] for args in part] for part in slices] == [[0, 1], [2, 3], [4]]
            assert slices[-1][-1][-1] == head  # each with its offset last
            worker.close()
            await worker.lost.wait()
            with pytest.raises(Unavailable):
                _ = [s async for s in log.missed(session, None, head)]
    finally:
        worker.close()
        await hub.stop()


# -- the hub's stores --------------------------------------------------------------------------


def entries(hub: HubRecovery, count: int, namespace: str = "/r", rooms: Any = None) -> list[str]:
    return [
        hub.offset(hub.append(namespace, rooms, [], 60.0, bus.pack([f"e{n}"])).number)
        for n in range(count)
    ]


def test_the_log_says_what_a_client_missed_and_when_too_much_is_gone() -> None:
    hub = HubRecovery(max_packets=5, max_bytes=10_000)
    start = hub.offset(hub.last)
    offsets = entries(hub, 3)
    hub.append("/other", None, [], 60.0, bus.pack(["elsewhere"]))
    hub.append("/r", ["room-b"], [], 60.0, bus.pack(["not for a"]))
    hub.append("/r", ["room-a"], ["sid-a"], 60.0, bus.pack(["skips a"]))
    assert hub.resumable("/r", start) and hub.resumable("/r", offsets[1])
    missed = hub.missed("/r", "sid-a", ["room-a"], offsets[0], hub.offset(hub.last), 100)
    assert [bus.unpack(args) for args, _ in missed] == [["e1"], ["e2"]]
    assert [offset for _, offset in missed] == offsets[1:]
    # in slices: the next one starts after the last offset of the one before
    assert hub.missed("/r", "sid-a", ["room-a"], offsets[0], hub.offset(hub.last), 1) == missed[:1]
    # only up to the asking worker's head: the rest reaches it live
    assert len(hub.missed("/r", "sid-a", ["room-a"], offsets[0], offsets[1], 100)) == 1
    entries(hub, 5)  # the oldest of /r are evicted (5 kept)
    assert not hub.resumable("/r", offsets[1])
    assert hub.resumable("/other", start)  # nothing of /other was evicted
    assert not hub.resumable("/r", "another-epoch-1")
    assert not hub.resumable("/r", hub.offset(hub.last + 1))


def test_a_session_is_claimed_once_and_only_its_holder_keeps_it() -> None:
    hub = HubRecovery(10, 10_000)
    hub.track(0, "/r", "pid-1", "w0-eio-a", b"state", 30.0)
    hub.persist(1, "/r", "pid-1", "w1-eio-x", b"other", 30.0)  # not its holder: ignored
    assert not hub.pending("/r", "pid-1")
    # still live (its worker died or lags): taken over from the connection that held it
    assert hub.claim(1, "/r", "pid-1", "w1-eio-b") == [b"state", "w0-eio-a"]
    hub.persist(0, "/r", "pid-1", "w0-eio-a", b"stale", 30.0)  # noticed late: ignored
    hub.track(0, "/r", "pid-1", "w0-eio-a", b"stale", 30.0)  # ignored too
    assert hub.claim(0, "/r", "pid-1", "w0-eio-c") == [b"state", "w1-eio-b"]
    hub.track(0, "/r", "pid-1", "w0-eio-c", b"moved", 30.0)  # the claimer holds it now
    hub.persist(0, "/r", "pid-1", "w0-eio-c", b"dropped", 30.0)
    assert hub.pending("/r", "pid-1") and not hub.pending("/elsewhere", "pid-1")
    assert hub.claim(1, "/elsewhere", "pid-1", "w1-eio-d") is None  # another namespace's
    assert hub.pending("/r", "pid-1")  # is left kept for its own
    assert hub.claim(1, "/r", "pid-1", "w1-eio-d") == [b"dropped", ""]  # nobody to drop
    hub.track(0, "/r", "pid-2", "w0-eio-e", b"two", 30.0)
    hub.forget(0, "/r", "pid-2", "w0-eio-other")  # not its holder: ignored
    hub.forget(0, "/r", "pid-2", "w0-eio-e")
    assert hub.claim(0, "/r", "pid-2", "w0-eio-f") is None


def test_a_dead_workers_sessions_wait_for_their_clients() -> None:
    hub = HubRecovery(10, 10_000)
    hub.track(0, "/r", "pid-a", "w0-a", b"a", 30.0)
    hub.track(0, "/r", "pid-none", "w0-n", b"n", 0.0)
    hub.track(1, "/r", "pid-b", "w1-b", b"b", 30.0)
    hub.worker_gone(0)
    assert hub.pending("/r", "pid-a") and not hub.pending("/r", "pid-none")
    assert hub.claim(1, "/r", "pid-a", "w1-c") == [b"a", ""]
    assert hub.claim(0, "/r", "pid-b", "w0-d") == [b"b", "w1-b"]  # worker 1's is live still


async def test_a_dead_workers_members_leave() -> None:
    presence = HubPresence()
    await presence.add(0, "/chat", "lobby", "s0", "ann")
    await presence.add(1, "/chat", "lobby", "s1", "bob")
    await presence.add(0, "/chat", "kitchen", "s2", "cy")
    await presence.worker_gone(0)
    assert await presence.names.members("/chat", "lobby") == ["bob"]
    assert await presence.names.members("/chat", "kitchen") == []


async def test_a_message_no_worker_can_be_sent_is_logged_once_per_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """python-socketio's own messages (a call's, a room change's) that the frames between
    workers cannot carry: one line per cause, however often they are tried."""
    worker = HubClient(0)
    settings = config.load(environ={})
    stream = local_recovery.LocalRecovery(worker, Windows(settings, lambda ns: 30.0))
    manager = LocalManager(worker, stream, Observer())
    for data in ({1, 2}, 2**70, {3}, 2**71):
        await manager.publish({"method": "emit", "event": "ask", "data": [data]})
    lines = [r.getMessage() for r in caplog.records if "not sent to other workers" in r.msg]
    assert len(lines) == 2, lines
