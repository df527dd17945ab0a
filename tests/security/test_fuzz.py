"""Property-based fuzzing of a running server with malformed Engine.IO / Socket.IO input.

One socketsvc node runs in a background thread (its own event loop, real TCP). Hypothesis builds
batches of hostile sessions, each over websocket or long-polling, optionally after a valid
handshake and namespace CONNECT so deeper packet paths are reached: unknown packet types,
truncated packets, bad JSON and msgpack, wrong attachment counts, negative and huge ack ids, deep
nesting, huge numbers, invalid UTF-8 and oversized frames. A session that joined ``/chat`` also
joins a room there, so that rooms and presence hold it. Every session ends with a frame that is
invalid in any state (``CLOSERS``) unless the server has closed it already. After every batch:

- every hostile session was closed by the server, at once: invalid input closes its sender;
- the server answers ``/healthz``;
- a separate python-socketio client in ``/chat`` still receives a message sent to its room;
- no ERROR record with a traceback (or from asyncio/aiohttp) was logged by the server;
- per-connection server state returns to the baseline (engine sessions, Socket.IO rooms and
  per-client manager state, presence, handler tasks, packet reader, connect deadlines,
  security), and RSS growth stays under a bound.

Bounded for CI: ``SOCKETSVC_TEST_FUZZ_EXAMPLES`` examples (default 200), derandomized, no
deadline; the total number of frames sent is printed at the end.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Coroutine
from typing import Any

import aiohttp
import msgpack
import pytest
import socketio
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from socketsvc.app.factory import SERVICES, SIO, create_app
from socketsvc.scaleout.presence import MemoryPresence
from tests.conftest import make_settings

EXAMPLES = int(os.environ.get("SOCKETSVC_TEST_FUZZ_EXAMPLES", "200"))
MAX_PAYLOAD = 32_768
RSS_BOUND = 150 * 2**20
READ_WINDOW = 0.05  # seconds to drain what the server answers to one hostile session
CLOSE_WAIT = 3.0  # seconds a websocket session may take to be closed after invalid input
WATCHED = ("socketsvc", "socketio", "engineio", "aiohttp", "asyncio")


class Big:
    """An oversized frame, kept small in Hypothesis' reports."""

    def __init__(self, binary: bool) -> None:
        self.binary = binary

    def __repr__(self) -> str:
        return f"Big(binary={self.binary})"

    def frame(self) -> str | bytes:
        return b"\x00" * (MAX_PAYLOAD + 10) if self.binary else "4" + "x" * (MAX_PAYLOAD + 10)


def materialize(frame: Any) -> Any:
    return frame.frame() if isinstance(frame, Big) else frame


# -- strategies --------------------------------------------------------------------------------
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
namespaces = st.sampled_from(["/chat", "/test", "/", "/nope", "/workspace/a", "", "chat", "/\x00"])
events = st.sampled_from(
    [
        "join",
        "message",
        "typing",
        "leave",
        "members",
        "echo",
        "ack-echo",
        "point",
        "boom",
        "_private",
        "connect",
        "disconnect",
        "x" * 100,
    ]
)
ack_ids = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=100),
    st.sampled_from([-1, 2**53, 2**53 - 1, 2**64, 10**100]),
)


@st.composite
def deep_json(draw: st.DrawFn) -> str:
    depth = draw(st.sampled_from([50, 500, 5000, 100_000]))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    return opener * depth + "1" + closer * depth


@st.composite
def huge_number(draw: st.DrawFn) -> str:
    return draw(
        st.sampled_from(
            [
                "1" * 5000,
                "1e999999",
                "-1e-99999",
                "123456789012345678901234",
                "NaN",
                "Infinity",
                "-0",
                "1.5e308",
            ]
        )
    )


@st.composite
def sio_json_packet(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from([*"0123456", "7", "9", "a", "-", ""]))
    attachments = draw(
        st.one_of(
            st.just(""), st.sampled_from(["0-", "1-", "2-", "-1-", "999999-", "1001-", "x-", "1"])
        )
    )
    ns = draw(namespaces)
    ns_part = "" if ns in ("/", "") else ns + ","
    pid = draw(ack_ids)
    body = draw(
        st.one_of(
            st.builds(lambda e, a: json.dumps([e, *a]), events, st.lists(json_value, max_size=3)),
            json_value.map(json.dumps),
            deep_json(),
            huge_number().map(lambda n: f'["echo",{n}]'),
            st.just('[{"_placeholder":true,"num":0}]'),
            st.just('["echo",{"_placeholder":true,"num":99}]'),
            st.just('["echo",{"_placeholder":true,"num":"0"}]'),
            st.text(max_size=30),
        )
    )
    text = kind + attachments + ns_part + ("" if pid is None else str(pid)) + body
    if draw(st.booleans()):
        text = text[: draw(st.integers(min_value=0, max_value=max(len(text) - 1, 0)))]
    return text


@st.composite
def sio_msgpack_packet(draw: st.DrawFn) -> bytes:
    packet: dict[Any, Any] = {}
    if draw(st.booleans()):
        packet["type"] = draw(st.one_of(st.integers(-3, 9), st.text(max_size=3), st.none()))
    else:
        packet["type"] = draw(st.integers(0, 3))
    packet["nsp"] = draw(st.one_of(namespaces, st.integers(), st.none()))
    if draw(st.booleans()):
        packet["data"] = draw(
            st.one_of(
                st.builds(lambda e, a: [e, *a], events, st.lists(json_value, max_size=3)),
                json_value,
                st.binary(max_size=20),
            )
        )
    if draw(st.booleans()):
        packet["id"] = draw(st.one_of(ack_ids, st.text(max_size=3), st.floats()))
    if draw(st.booleans()):
        packet[draw(st.one_of(st.integers(), st.binary(max_size=3)))] = 1
    try:
        raw = msgpack.packb(packet)
    except (OverflowError, TypeError, ValueError):
        raw = b"\xc1"
    variant = draw(st.sampled_from(["whole", "cut", "ext", "junk", "deep"]))
    if variant == "cut":
        raw = raw[: draw(st.integers(0, max(len(raw) - 1, 0)))]
    elif variant == "ext":
        raw = msgpack.packb(
            packet
            | {
                "data": [
                    "echo",
                    msgpack.ExtType(draw(st.integers(0, 127)), b"\x00" * draw(st.integers(0, 9))),
                ]
            },
            default=str,
        )
    elif variant == "junk":
        raw = draw(st.binary(min_size=1, max_size=40))
    elif variant == "deep":
        raw = b"\x81\xa4data" + b"\x91" * draw(st.sampled_from([100, 10_000, 200_000])) + b"\xc0"
    return raw


@st.composite
def event_packet(draw: st.DrawFn) -> str:
    """A well-formed EVENT (or BINARY_EVENT) for a namespace a session joined, hostile inside."""
    ns = draw(st.sampled_from(["/chat", "/test"]))
    pid = draw(ack_ids)
    args = draw(st.lists(json_value, max_size=3))
    body = json.dumps([draw(events), *args])
    tail = draw(st.one_of(st.just(""), huge_number(), deep_json()))
    if tail:
        body = body[:-1] + "," + tail + "]"
    head = "2"
    if draw(st.booleans()):
        declared = draw(st.integers(0, 3))
        used = draw(st.integers(0, 3))
        holders = ",".join(f'{{"_placeholder":true,"num":{i}}}' for i in range(used))
        body = body[:-1] + ("," + holders if holders else "") + "]"
        head = f"5{declared}-"
    return "4" + head + ns + "," + ("" if pid is None else str(pid)) + body


@st.composite
def msgpack_event(draw: st.DrawFn) -> bytes:
    packet = {
        "type": 2,
        "nsp": "/chat",
        "data": [draw(events), *draw(st.lists(json_value, max_size=3))],
    }
    pid = draw(ack_ids)
    if pid is not None:
        packet["id"] = pid
    try:
        return bytes(msgpack.packb(packet))
    except (OverflowError, ValueError):
        return b"\xc1"


def eio_text(sio: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """An Engine.IO text packet: mostly MESSAGE carrying Socket.IO, sometimes other types."""
    return st.one_of(
        sio.map(lambda p: "4" + p),
        sio.map(lambda p: "4" + p),
        st.sampled_from(
            [
                "",
                "2",
                "3",
                "5",
                "6",
                "0",
                "1",
                "7",
                "x",
                "2probe",
                "4",
                "b",
                "bAAA=",
                "b!!!",
                "40",
                "41",
                "44/chat,{}",
                "4" * 3,
            ]
        ),
        st.text(max_size=20),
    )


frames = st.one_of(
    event_packet(),
    msgpack_event(),
    eio_text(sio_json_packet()),
    sio_msgpack_packet(),
    st.binary(min_size=1, max_size=30),
    st.just(b"\xff\xfe\xfd"),  # invalid UTF-8, sent as a text frame / polling body
    st.builds(lambda b: Big(b), st.booleans()),  # oversized text or binary frame
)
session = st.fixed_dictionaries(
    {
        "transport": st.sampled_from(["websocket", "polling"]),
        "connect": st.sampled_from([None, "/chat", "/test", "/chat-msgpack"]),
        "frames": st.lists(frames, min_size=1, max_size=6),
    }
)
batch = st.lists(session, min_size=1, max_size=3)

INVALID_UTF8 = b"\xff\xfe\xfd"  # sent as a text frame / polling body
# Text frames that are invalid whatever came before them (no namespace joined yet, JSON or
# msgpack session, binary attachments awaited): each must close its sender at once.
CLOSERS = (
    "x",  # Engine.IO: unknown packet type
    "2",  # Engine.IO: a PING from the client (only the server pings)
    "49",  # Socket.IO: unknown packet type
    "42/chat,{",  # Socket.IO: malformed JSON
    "44/chat,{}",  # Socket.IO: clients may not send CONNECT_ERROR
    '42/nope,["message"]',  # Socket.IO: an event for a namespace it is not connected to
    INVALID_UTF8,
)
closers = st.lists(st.sampled_from(CLOSERS), min_size=3, max_size=3)  # one per session


# -- the server under test, in its own thread ----------------------------------------------------
class Node:
    """A socketsvc node on a real port, its event loop in a thread, plus a watching client."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.records: list[logging.LogRecord] = []
        self.frames_sent = 0
        self.sessions = 0
        self.unclosed: list[str] = []  # hostile sessions the server left open
        self.handler: Collect

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 20) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def start(self) -> None:
        settings_ = make_settings(
            max_payload=MAX_PAYLOAD,
            max_buffer_bytes=1_000_000,
            max_connections_per_ip=0,
            rate_limit_events=1000.0,  # the watching clients talk once per batch, fast
            rate_limit_burst=1000,
            connect_timeout=2.0,
            ping_interval=1.0,
            ping_timeout=1.0,
        )
        self.app = create_app(settings_)
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self.http = aiohttp.ClientSession()
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self.watcher = socketio.AsyncClient(reconnection=False)
        self.speaker = socketio.AsyncClient(reconnection=False, serializer="msgpack")
        self.watcher.on("message", self.inbox.put, namespace="/chat")
        for client, name in ((self.watcher, "watcher"), (self.speaker, "speaker")):
            await client.connect(self.url, namespaces=["/chat"], wait_timeout=5)
            await client.call("join", {"room": "watch", "name": name}, namespace="/chat")
        self.baseline = await self.state()

    async def state(self) -> dict[str, Any]:
        """Everything the server keeps per connection; back to the baseline after each batch."""
        sio = self.app[SIO]
        manager = sio.manager
        presence = self.app[SERVICES].presence
        assert isinstance(presence, MemoryPresence)
        return {
            "engine sessions": len(sio.eio.sockets),
            "socket.io environ": len(sio.environ),
            "rooms": {
                f"{namespace} {room}": len(members)
                for namespace, rooms in manager.rooms.items()
                for room, members in rooms.items()
            },
            "manager per-client state": (
                len(manager._memberships),
                sum(len(acks) for acks in manager.callbacks.values()),
                sum(len(sids) for sids in manager.pending_connect.values()),
                sum(len(sids) for sids in manager.pending_disconnect.values()),
            ),
            "presence rooms": presence.room_count(),
            "presence in the watched room": await presence.members("/chat", "watch"),
            "packet reader state": sio.reader.state_size(),
            "connect deadlines": len(sio.deadlines),
            "security state": sio.security.state_size(),
            "server tasks": len(sio.tasks),
        }

    async def check(self, n: int) -> None:
        async with self.http.get(self.url + "/healthz") as r:
            assert r.status == 200
        assert self.watcher.connected and self.speaker.connected
        text = f"ping {n}"
        ack = await self.speaker.call(
            "message", {"room": "watch", "text": text}, namespace="/chat", timeout=3
        )
        assert "id" in ack, ack
        got = await asyncio.wait_for(self.inbox.get(), 3)
        assert got["text"] == text
        deadline = time.monotonic() + 3
        while await self.state() != self.baseline and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        now = await self.state()
        changed = {
            key: (self.baseline[key], now[key]) for key in now if now[key] != self.baseline[key]
        }
        assert not changed, f"per-connection state left behind (baseline, now): {changed}"

    async def stop(self) -> None:
        for client in (self.watcher, self.speaker):
            await client.disconnect()
            await client.shutdown()
        await self.http.close()
        await self.runner.cleanup()


async def hostile_session(node: Node, spec: dict[str, Any], closer: str | bytes) -> None:
    node.sessions += 1
    if spec["transport"] == "websocket":
        await _websocket(node, spec, closer)
    else:
        await _polling(node, spec, closer)


def _prelude(target: str | None) -> list[str | bytes]:
    """The valid frames a session starts with: a namespace CONNECT, and in /chat a join."""
    if target is None:
        return []
    if target == "/chat-msgpack":
        join = {"type": 2, "nsp": "/chat", "data": ["join", {"room": "fuzz", "name": "f"}]}
        return [msgpack.packb({"type": 0, "nsp": "/chat"}), msgpack.packb(join | {"id": 1})]
    if target == "/chat":
        return ["40/chat,", '42/chat,1["join",{"room":"fuzz","name":"f"}]']
    return [f"40{target},"]


def _describe(spec: dict[str, Any], closer: str | bytes) -> str:
    frames = repr(spec["frames"])
    frames = frames if len(frames) < 300 else frames[:300] + "..."
    return f"{spec['transport']} session {spec['connect']} {frames} then {closer!r}"


async def _websocket(node: Node, spec: dict[str, Any], closer: str | bytes) -> None:
    url = node.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    try:
        async with asyncio.timeout(3):
            ws = await node.http.ws_connect(url, autoping=True, max_msg_size=0)
    except (aiohttp.ClientError, TimeoutError):
        return
    try:
        async with asyncio.timeout(3):
            await ws.receive()  # OPEN
            for item in [*_prelude(spec["connect"]), *spec["frames"], closer]:
                frame = materialize(item)
                if ws.closed:
                    break
                node.frames_sent += 1
                if frame == INVALID_UTF8:
                    await ws.send_frame(frame, aiohttp.WSMsgType.TEXT)
                elif isinstance(frame, bytes):
                    await ws.send_bytes(frame)
                else:
                    await ws.send_str(frame)
    except (ConnectionError, aiohttp.ClientError, TimeoutError, RuntimeError):
        pass
    try:
        if not await _closed_by_server(ws):
            node.unclosed.append(_describe(spec, closer))
    finally:
        await ws.close()


async def _closed_by_server(ws: aiohttp.ClientWebSocketResponse) -> bool:
    """Read what the server still sends until it closes (True) or ``CLOSE_WAIT`` passes.
    PINGs are answered meanwhile, so that a heartbeat timeout cannot pass for a close."""
    end = time.monotonic() + CLOSE_WAIT
    while not ws.closed and (left := end - time.monotonic()) > 0:
        try:
            msg = await asyncio.wait_for(ws.receive(), left)
        except TimeoutError:
            return False
        except (ConnectionError, aiohttp.ClientError, RuntimeError):
            return True
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            return True
        if msg.type == aiohttp.WSMsgType.TEXT and msg.data == "2":
            with contextlib.suppress(ConnectionError, aiohttp.ClientError, RuntimeError):
                await ws.send_str("3")
    return ws.closed


async def _polling(node: Node, spec: dict[str, Any], closer: str | bytes) -> None:
    base = node.url + "/socket.io/?EIO=4&transport=polling"
    sid = None
    try:
        async with asyncio.timeout(3):
            async with node.http.get(base) as r:
                sid = json.loads((await r.text())[1:])["sid"]
            url = f"{base}&sid={sid}"
            for item in [*_prelude(spec["connect"]), *spec["frames"], closer]:
                frame = materialize(item)
                node.frames_sent += 1
                if isinstance(frame, bytes) and frame != INVALID_UTF8:
                    body: str | bytes = "b" + base64.b64encode(frame).decode()
                else:
                    body = frame
                async with node.http.post(url, data=body) as r:
                    await r.read()
                    if r.status != 200:
                        break
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
        pass
    if sid is None:
        return
    url = f"{base}&sid={sid}"
    try:
        # The POST that carried invalid input is answered after the server began closing.
        session = node.app[SIO].eio.sockets.get(sid)
        if session is not None and not (session.closing or session.closed):
            node.unclosed.append(_describe(spec, closer))
        async with asyncio.timeout(READ_WINDOW * 4):
            async with node.http.get(url) as r:
                await r.read()
    except (aiohttp.ClientError, TimeoutError):
        pass
    finally:
        await _leave(node, url)


async def _leave(node: Node, url: str) -> None:
    """Leave like a well-behaved client: CLOSE, then collect what a closing server still
    delivers (a server-closed polling session lingers until a poll takes its CLOSE)."""
    try:
        async with asyncio.timeout(2):
            async with node.http.post(url, data="1") as r:
                await r.read()
            for _ in range(3):
                async with asyncio.timeout(0.3), node.http.get(url) as r:
                    packets = (await r.text()).split("\x1e")
                    if r.status != 200 or "1" in packets:
                        return
    except (aiohttp.ClientError, TimeoutError):
        pass


class Collect(logging.Handler):
    """Keeps ERROR records with a traceback (or from asyncio/aiohttp); counts the rest."""

    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.INFO)
        self.into = into
        self.refusals = 0  # connections the server closed or refused for bad input

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR and (
            record.exc_info or record.name.startswith(("asyncio", "aiohttp"))
        ):
            self.into.append(record)
        elif record.name.startswith("socketsvc"):
            self.refusals += 1


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- the property ------------------------------------------------------------------------------
@pytest.fixture
def node() -> Any:  # shadows the JS "node" fixture: no Node.js needed here
    n = Node()
    handler = n.handler = Collect(n.records)
    loggers = [logging.getLogger(name) for name in WATCHED]
    for logger in loggers:
        logger.addHandler(handler)
    n.thread.start()
    n.run(n.start())
    try:
        yield n
    finally:
        try:
            n.run(n.stop())
        finally:
            for logger in loggers:
                logger.removeHandler(handler)
            n.loop.call_soon_threadsafe(n.loop.stop)
            n.thread.join(5)
            n.loop.close()


def test_malformed_input_never_hurts_the_server(
    node: Node, capsys: pytest.CaptureFixture[str]
) -> None:
    examples = 0
    rss_start = _rss()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time, first failure
    )
    @given(batch, closers)
    def property_(sessions: list[dict[str, Any]], ends: list[str | bytes]) -> None:
        nonlocal examples
        examples += 1

        async def run_batch() -> None:
            node.unclosed.clear()
            await asyncio.gather(
                *(hostile_session(node, s, end) for s, end in zip(sessions, ends, strict=False))
            )
            await node.check(examples)

        node.run(run_batch(), timeout=30)
        assert not node.unclosed, node.unclosed
        assert not node.records, [
            (r.name, r.getMessage(), r.exc_text or "") for r in node.records[:3]
        ]
        assert _rss() - rss_start < RSS_BOUND

    started = time.monotonic()
    property_()
    with capsys.disabled():
        print(
            f"\nfuzz: {examples} batches, {node.sessions} hostile sessions, "
            f"{node.frames_sent} frames sent, {node.handler.refusals} server log lines about "
            f"them in {time.monotonic() - started:.1f}s; "
            f"RSS delta {(_rss() - rss_start) / 2**20:.1f} MiB"
        )
