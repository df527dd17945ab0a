"""The delivery fast path: direct websocket writes, one frame per broadcast, the writer task
taking over for clients that fall behind. What it must never change: order, completeness,
binary, and other clients' delivery when one connection goes away mid-broadcast."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
import pytest
import socketio

from socketsvc.app.factory import SIO
from socketsvc.engine.websocket import WRITE_HIGH_WATER
from socketsvc.errors import Unencodable
from tests import raw_client
from tests.conftest import CLIENT_SERIALIZERS, StartServer, eventually

NS = "/test"


async def join_all(url: str, transports: list[str], room: str) -> list[Any]:
    received: list[Any] = []
    clients = []
    for index, transport in enumerate(transports):
        client = socketio.AsyncClient(serializer="msgpack" if index % 2 else "default")
        box: list[Any] = []
        received.append(box)
        client.on("flood", box.append, namespace=NS)
        await client.connect(url, namespaces=[NS], transports=[transport])
        await client.call("enter", room, namespace=NS)
        clients.append(client)
    return [clients, received]


async def test_broadcasts_arrive_complete_and_in_order_on_every_transport(
    start_server: StartServer,
) -> None:
    server = await start_server()
    url = str(server.make_url("/"))
    clients, received = await join_all(url, ["websocket"] * 3 + ["polling"] * 2, "order")
    assert await clients[0].call("flood", ("order", 300, 10), namespace=NS, timeout=10) == 300
    for box in received:
        for _ in range(500):
            if len(box) == 300:
                break
            await asyncio.sleep(0.01)
        assert [m["seq"] for m in box] == list(range(300))
    for client in clients:
        await client.disconnect()
        await client.shutdown()


async def test_a_client_vanishing_mid_broadcast_affects_nobody_else(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    url = str(server.make_url("/"))
    clients, received = await join_all(url, ["websocket"] * 4, "vanish")
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.make_url("/socket.io/?EIO=4&transport=websocket"))
        await ws.receive(timeout=5)
        await ws.send_str("40/test,")
        await ws.receive(timeout=5)
        await ws.send_str('42/test,1["enter","vanish"]')
        await ws.receive(timeout=5)
        flood = asyncio.ensure_future(
            clients[0].call("flood", ("vanish", 500, 200), namespace=NS, timeout=10)
        )
        await ws.close()
        assert await flood == 500
    for box in received:
        for _ in range(500):
            if len(box) == 500:
                break
            await asyncio.sleep(0.01)
        assert [m["seq"] for m in box] == list(range(500))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    for client in clients:
        await client.disconnect()
        await client.shutdown()


async def test_a_slow_reader_falls_back_to_the_writer_and_still_gets_everything_in_order(
    start_server: StartServer,
) -> None:
    server = await start_server()
    sio = server.app[SIO]
    count, size = 300, 60_000  # 18 MB: more than loopback socket buffers take at once
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.make_url("/socket.io/?EIO=4&transport=websocket"))
        opened = json.loads((await ws.receive(timeout=5)).data[1:])
        await ws.send_str("40/test,")
        await ws.receive(timeout=5)
        await ws.send_str('42/test,1["enter","slow"]')
        await ws.receive(timeout=5)
        # Stop reading while the server floods this client.
        await ws.send_str(f'42/test,2["flood","slow",{count},{size}]')
        socket = sio.eio.sockets[opened["sid"]]
        backlog_seen = 0
        for _ in range(200):
            transport = socket._ws._writer.transport
            backlog_seen = max(backlog_seen, transport.get_write_buffer_size())
            if backlog_seen > WRITE_HIGH_WATER:
                break
            await asyncio.sleep(0.01)
        assert backlog_seen > WRITE_HIGH_WATER
        seqs: list[int] = []
        while len(seqs) < count:
            msg = await ws.receive(timeout=10)
            if msg.data.startswith('42/test,["flood"'):
                seqs.append(json.loads(msg.data[len("42/test,") :])[1]["seq"])
        assert seqs == list(range(count))
        await ws.close()


async def test_a_broadcast_stays_behind_what_the_same_turn_sent_before_it(
    start_server: StartServer, serializer: str
) -> None:
    """Single-recipient frames are coalesced per event-loop turn, broadcasts are written at
    once; a client that gets both in one turn still gets them in the order they were sent."""
    server = await start_server()
    url = str(server.make_url("/"))
    clients = []
    seen: list[Any] = []
    for _ in range(3):
        client = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer])
        await client.connect(url, namespaces=[NS], transports=["websocket"])
        await client.call("enter", "turn", namespace=NS)
        clients.append(client)
    sender = clients[0]
    sender.on("note", lambda text: seen.append(("note", text)), namespace=NS)
    sender.on("shout", lambda data: seen.append(("shout", data["text"])), namespace=NS)
    for n in range(20):
        await sender.call("note_then_shout", ("turn", str(n)), namespace=NS, timeout=5)
    for _ in range(500):
        if len(seen) == 40:
            break
        await asyncio.sleep(0.01)
    assert seen == [(kind, str(n)) for n in range(20) for kind in ("note", "shout")]
    for client in clients:
        await client.disconnect()
        await client.shutdown()


# -- the manager API python-socketio documents, as FanoutManager serves it ------------------
class Recorder:
    """Every event of some names one client receives, in order, with all their arguments."""

    def __init__(self, client: socketio.AsyncClient, *events: str) -> None:
        self.queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        for event in events:
            client.on(event, self._handler(event), namespace=NS)

    def _handler(self, event: str) -> Any:
        async def put(*args: Any) -> None:
            await self.queue.put((event, *args))

        return put

    async def get(self) -> tuple[Any, ...]:
        return await asyncio.wait_for(self.queue.get(), 5)


async def clients_in_rooms(url: str, rooms: dict[str, list[str]]) -> dict[str, Any]:
    """One client per name, JSON and msgpack in turn, each in its list of rooms."""
    made = {}
    for index, (name, joined) in enumerate(rooms.items()):
        client = socketio.AsyncClient(serializer="msgpack" if index % 2 else "default")
        await client.connect(url, namespaces=[NS], transports=["websocket"])
        for room in joined:
            await client.call("enter", room, namespace=NS, timeout=5)
        made[name] = client
    return made


async def test_emit_arguments_python_socketio_accepts(start_server: StartServer) -> None:
    """``to`` as well as ``room``, a list of rooms with one that does not exist, ``skip_sid``
    as a list, a tuple as several arguments, ``None`` as none."""
    server = await start_server()  # serializer auto: JSON and msgpack clients together
    sio = server.app[SIO]
    clients = await clients_in_rooms(
        str(server.make_url("/")), {"a": ["r"], "b": ["r"], "c": ["r", "s"], "d": ["s"]}
    )
    inbox = {name: Recorder(c, "x") for name, c in clients.items()}
    sid = {name: c.get_sid(NS) for name, c in clients.items()}
    try:
        await sio.manager.emit("x", "to r", namespace=NS, to="r")
        await sio.manager.emit("x", (1, 2), namespace=NS, room=["s", "nowhere"])
        await sio.emit("x", None, namespace=NS, to="r", skip_sid=[sid["a"], sid["b"]])
        await sio.emit("x", "to s", namespace=NS, to="s")
        assert [await inbox["a"].get()] == [("x", "to r")]
        assert [await inbox["c"].get() for _ in range(4)] == [
            ("x", "to r"),
            ("x", 1, 2),
            ("x",),
            ("x", "to s"),
        ]
        # d got nothing of r; a and b were skipped: the next emit to r is their next event
        assert [await inbox["d"].get() for _ in range(2)] == [("x", 1, 2), ("x", "to s")]
        await sio.emit("x", "last", namespace=NS, to="r")
        assert await inbox["a"].get() == ("x", "last")  # the skipped emit never came
        assert [await inbox["b"].get() for _ in range(2)] == [("x", "to r"), ("x", "last")]
        gone = sid["d"]
        await clients["d"].disconnect()
        await eventually(lambda: not sio.manager.is_connected(gone, NS))
        assert sio.manager.get_rooms(gone, NS) == []
        assert sio.manager.rooms_of_client(gone, NS) == []
        assert sio.manager.get_rooms(sid["c"], NS) == [sid["c"], "r", "s"]
    finally:
        for client in clients.values():
            await client.disconnect()
            await client.shutdown()


async def test_emits_with_an_ack_callback_reach_the_room_in_each_clients_format(
    start_server: StartServer,
) -> None:
    server = await start_server()
    sio = server.app[SIO]
    clients = await clients_in_rooms(
        str(server.make_url("/")), {"j": ["r"], "m": ["r"], "out": ["elsewhere"]}
    )
    asked: list[str] = []
    for name, client in clients.items():

        def answer(data: Any, name: str = name) -> str:
            asked.append(name)
            return f"{name} got {data['q']}"

        client.on("question", answer, namespace=NS)
    answers: list[Any] = []
    try:
        await sio.emit("question", {"q": 1}, namespace=NS, to="r", callback=answers.append)
        await eventually(lambda: len(answers) == 2)
        assert sorted(answers) == ["j got 1", "m got 1"]
        assert await sio.call("question", {"q": 2}, to=clients["out"].get_sid(NS), namespace=NS)
        assert sorted(asked) == ["j", "m", "out"]  # "out" got only the question meant for it
    finally:
        for client in clients.values():
            await client.disconnect()
            await client.shutdown()


async def test_an_asking_emit_one_format_refuses_leaves_no_ack_id_behind(
    start_server: StartServer,
) -> None:
    """The JSON client gets a lone surrogate (escaped) and answers; the msgpack client cannot
    be sent it, so no ack id waits for it, and it is not counted as reached."""
    server = await start_server()
    sio = server.app[SIO]
    clients = await clients_in_rooms(str(server.make_url("/")), {"j": ["r"], "m": ["r"]})
    for client in clients.values():
        client.on("question", lambda data: f"seen {data['q']}", namespace=NS)
    answers: list[Any] = []
    try:
        with pytest.raises(Unencodable):
            await sio.emit(
                "question", {"q": "a\udfffb"}, namespace=NS, to="r", callback=answers.append
            )
        await sio.emit("question", {"q": "b"}, namespace=NS, to="r", callback=answers.append)
        await eventually(lambda: len(answers) == 3)
        assert sorted(answers) == ["seen a\udfffb", "seen b", "seen b"]
        for client in clients.values():  # every id answered, none left for the refused one
            assert set(sio.manager.callbacks.get(client.get_sid(NS), {})) <= {0}
        async with aiohttp.ClientSession() as http, http.get(server.make_url("/metrics")) as r:
            assert 'socketsvc_event_deliveries_total{namespace="/test"} 3.0' in await r.text()
    finally:
        for client in clients.values():
            await client.disconnect()
            await client.shutdown()


async def test_volatile_emits_skip_only_clients_with_a_backlog(start_server: StartServer) -> None:
    """Alone in a room (one recipient) or with others of its format (a shared frame), a
    client with a backlog misses volatile emits; the others get them, and everyone gets the
    emits that are not volatile."""
    server = await start_server(max_payload=16_384, max_buffer_bytes=65_536, rate_limit_events=0)
    sio = server.app[SIO]
    url = str(server.make_url("/"))
    fast = socketio.AsyncClient()
    ticks: list[Any] = []
    fast.on("tick", ticks.append, namespace=NS)
    await fast.connect(url, namespaces=[NS], transports=["websocket"])
    await fast.call("enter", "both", namespace=NS, timeout=5)
    try:
        async with aiohttp.ClientSession() as http:
            base = str(server.make_url("/socket.io/")) + "?EIO=4&transport=polling"
            async with http.get(base) as r:
                eio_sid = json.loads((await r.text())[1:])["sid"]
            poll = f"{base}&sid={eio_sid}"
            for body in ("40/test,", '42/test,1["enter","both"]', '42/test,2["enter","alone"]'):
                async with http.post(poll, data=body) as r:
                    assert r.status == 200
            async with http.get(poll) as r:  # the CONNECT and the two acks; then no more polls
                assert (await r.text()).count("43/test,") == 2
            slow = sio.eio.sockets[eio_sid]
            filler = "x" * 4000
            for _ in range(5):  # 20 KB: past a quarter of max_buffer_bytes
                await sio.emit("fill", filler, namespace=NS, to="alone")
            backlog = slow.buffered_bytes
            assert backlog > 65_536 // 4
            for room in ("alone", "both"):
                await sio.manager.emit("tick", room, namespace=NS, room=room, volatile=True)
            assert slow.buffered_bytes == backlog
            await eventually(lambda: ticks == ["both"])
            await sio.emit("tick", "kept", namespace=NS, to="both")
            assert slow.buffered_bytes > backlog  # not volatile: queued for the slow one too
            await eventually(lambda: ticks == ["both", "kept"])
    finally:
        await fast.disconnect()
        await fast.shutdown()


async def test_an_emit_the_first_format_refuses_still_reaches_the_next_and_is_logged_once(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    """JSON (the first member's format) refuses an int beyond 2**53, msgpack a lone
    surrogate: each emit reaches the other format all the same, asking or not, and each
    cause is logged once with the namespace and the reason."""
    server = await start_server()
    sio = server.app[SIO]
    clients = await clients_in_rooms(str(server.make_url("/")), {"j": ["r"], "m": ["r"]})
    inbox = {name: Recorder(c, "x") for name, c in clients.items()}
    for name, client in clients.items():
        client.on("question", lambda data, name=name: f"{name} saw {data}", namespace=NS)
    answers: list[Any] = []
    reasons = []
    try:
        skip = [clients["j"].get_sid(NS)]
        await sio.emit("question", 1, namespace=NS, to="r", skip_sid=skip, callback=answers.append)
        await eventually(lambda: answers == ["m saw 1"])
        with pytest.raises(Unencodable) as refused:
            await sio.emit("question", 2**60, namespace=NS, to="r", callback=answers.append)
        reasons.append(refused.value.message)
        await eventually(lambda: answers == ["m saw 1", f"m saw {2**60}"])
        with pytest.raises(Unencodable) as refused:
            await sio.emit("x", 2**60, namespace=NS, to="r")
        assert await inbox["m"].get() == ("x", 2**60)
        with pytest.raises(Unencodable) as refused:
            await sio.emit("x", "a\udfffb", namespace=NS, to="r")
        reasons.append(refused.value.message)
        assert await inbox["j"].get() == ("x", "a\udfffb")
        # Nobody ever joined /slow or /tasks: counted as emits that reached no one.
        await sio.emit("x", 1, namespace="/slow")
        await sio.emit("x", 1, namespace="/tasks", callback=answers.append)
        async with aiohttp.ClientSession() as http, http.get(server.make_url("/metrics")) as r:
            metrics = await r.text()
    finally:
        for client in clients.values():
            await client.disconnect()
            await client.shutdown()
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("not deliv")]
    assert logged == [f"not delivered in {NS}: {text} (logged once per cause)" for text in reasons]
    for ns in ("/slow", "/tasks"):
        assert f'socketsvc_events_emitted_total{{namespace="{ns}"}} 1.0' in metrics
        assert f'socketsvc_event_deliveries_total{{namespace="{ns}"}} 0.0' in metrics
    assert 'socketsvc_broadcast_recipients_bucket{le="0.0"} 2.0' in metrics


async def test_a_volatile_emit_in_a_recovering_namespace_is_not_stored(
    start_server: StartServer,
) -> None:
    """Only the stored emit carries an offset (its last argument); the volatile one has none."""
    server = await start_server()
    client = socketio.AsyncClient()
    news = NewsRecorder(client, "/recovering")
    try:
        await client.connect(str(server.make_url("/")), namespaces=["/recovering"])
        sid = client.get_sid("/recovering")
        assert await client.call("flash", (sid, "volatile"), namespace="/recovering", timeout=5)
        assert await client.call("tell", (sid, "stored"), namespace="/recovering", timeout=5)
        assert await news.get() == ("news", "volatile")
        event, payload, offset = await news.get()
        assert (event, payload) == ("news", "stored") and isinstance(offset, str)
    finally:
        await client.disconnect()
        await client.shutdown()


class NewsRecorder(Recorder):
    """A :class:`Recorder` of ``news`` in another namespace."""

    def __init__(self, client: socketio.AsyncClient, namespace: str) -> None:
        self.queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        client.on("news", self._handler("news"), namespace=namespace)


async def _news_until_ack(ws: Any, ack: int) -> list[Any]:
    """Every ``news`` the raw client receives before the ack ``ack`` (sent after them)."""
    news = []
    while (text := await ws.receive_str()) != f"43/recovering,{ack}[true]":
        if text == "2":  # an Engine.IO ping
            await ws.send_str("3")
            continue
        assert text.startswith("42/recovering,"), text
        news.append(json.loads(text.split(",", 1)[1]))
    return news


async def test_recovery_replays_what_the_room_got_without_the_skipped_sender(
    start_server: StartServer,
) -> None:
    """Stored emits keep their room and skipped sender: a client that comes back gets what its
    rooms got while it was away, not another room's emits nor its own tell_others."""
    srv = await start_server()
    sio = srv.app[SIO]
    other = socketio.AsyncClient()
    try:
        await other.connect(str(srv.make_url("/")), namespaces=["/recovering"])
        async with aiohttp.ClientSession() as http:
            ws, hello = await raw_client.join(http, srv, "/recovering")
            await ws.send_str('42/recovering,1["enter","r"]')
            assert await _news_until_ack(ws, 1) == []
            for room, text in (("s", "elsewhere"), ("r", "one")):
                await other.call("tell", (room, text), namespace="/recovering", timeout=5)
            await ws.send_str('42/recovering,2["tell_others","r","mine"]')
            await ws.send_str('42/recovering,3["enter","r"]')
            [[event, text, offset]] = await _news_until_ack(ws, 2) + await _news_until_ack(ws, 3)
            assert (event, text) == ("news", "one") and isinstance(offset, str)
            await ws.close()  # the transport drops: its session is kept for recovery
            await eventually(lambda: not sio.manager.is_connected(hello["sid"], "/recovering"))
            for room, text in (("s", "elsewhere again"), ("r", "two")):
                await other.call("tell", (room, text), namespace="/recovering", timeout=5)
            back, again = await raw_client.join(
                http, srv, "/recovering", {"pid": hello["pid"], "offset": offset}
            )
            assert again["sid"] == hello["sid"]  # recovered
            await back.send_str('42/recovering,4["enter","r"]')
            missed = await _news_until_ack(back, 4)
            assert [m[:2] for m in missed] == [["news", "two"]]
            await back.close()
    finally:
        await other.disconnect()
        await other.shutdown()
