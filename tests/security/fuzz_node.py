"""The fuzzer's server and its hostile clients.

:class:`Node` runs one socketsvc node on a real port, its event loop in a thread of its own,
with three well-behaved members in the ``/chat`` room "watch" that hostile sessions aim at: a
JSON websocket client, a msgpack websocket client and a JSON long-polling client.
:func:`hostile_session` plays one session of :mod:`tests.security.fuzz_inputs`.
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
from urllib.parse import urlsplit

import aiohttp
import socketio
from aiohttp import web

from socketsvc.app.factory import SERVICES, SIO, create_app
from socketsvc.app.runner import runner_options
from socketsvc.scaleout.presence import MemoryPresence
from tests.conftest import make_settings
from tests.security.fuzz_inputs import MAX_PAYLOAD, Big, Binary, Long, Raw, prelude

READ_WINDOW = 0.05  # seconds to drain what the server answers to one hostile session
CLOSE_WAIT = 3.0  # seconds a websocket session may take to be closed after invalid input
WATCHED = ("socketsvc", "socketio", "engineio", "aiohttp", "asyncio")
MEMBERS = ("watcher", "speaker", "poller")
BODY_TIMEOUT = 0.2  # short: a trickled body costs the batch this long


class Collect(logging.Handler):
    """Keeps ERROR records with a traceback (or from asyncio/aiohttp); counts the rest."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.errors: list[logging.LogRecord] = []
        self.refusals = 0  # connections the server closed or refused for bad input

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR and (
            record.exc_info or record.name.startswith(("asyncio", "aiohttp"))
        ):
            self.errors.append(record)
        elif record.name.startswith("socketsvc"):
            self.refusals += 1


def rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Node:
    """A socketsvc node on a real port, its event loop in a thread, plus watching clients."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.log = Collect()
        self.inputs = 0  # frames and hostile HTTP requests sent
        self.sessions = 0
        self.unclosed: list[str] = []  # hostile sessions the server left open after a closer

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 20) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def start(self) -> None:
        settings = make_settings(
            max_payload=MAX_PAYLOAD,
            max_buffer_bytes=1_000_000,
            max_connections_per_ip=0,
            rate_limit_events=1000.0,  # the watching clients talk once per batch, fast
            rate_limit_burst=1000,
            connect_timeout=2.0,
            ping_interval=1.0,
            ping_timeout=1.0,
            keepalive_timeout=1.0,
            body_timeout=BODY_TIMEOUT,
        )
        self.app = create_app(settings)
        self.runner = web.AppRunner(self.app, **runner_options(settings))
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self.http = aiohttp.ClientSession()
        self.inboxes: dict[str, asyncio.Queue[Any]] = {}
        self.members: dict[str, socketio.AsyncClient] = {}
        for name, serializer, transport in (
            ("watcher", "default", "websocket"),
            ("speaker", "msgpack", "websocket"),
            ("poller", "default", "polling"),
        ):
            client = socketio.AsyncClient(reconnection=False, serializer=serializer)
            inbox = self.inboxes[name] = asyncio.Queue()
            client.on("message", inbox.put, namespace="/chat")
            await client.connect(
                self.url, namespaces=["/chat"], transports=[transport], wait_timeout=5
            )
            await client.call("join", {"room": "watch", "name": name}, namespace="/chat")
            self.members[name] = client
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
            "connection records": sio.connections.state_size(),
            "recoverable sessions": sio.sessions.state_size(),
            "server tasks": len(sio.tasks),
        }

    async def check(self, n: int) -> None:
        """The node is healthy, every member is connected and served (its members request
        answered, a message in its room received), and per-connection state is back to the
        baseline."""
        connector = aiohttp.TCPConnector(force_close=True)  # no keep-alive race with the node
        async with (
            aiohttp.ClientSession(connector=connector) as http,
            http.get(self.url + "/healthz") as r,
        ):
            assert r.status == 200
        for name, client in self.members.items():
            assert client.connected, f"{name} was disconnected"
            reply = await client.call("members", {"room": "watch"}, namespace="/chat", timeout=3)
            assert set(MEMBERS) <= set(reply.get("members", ())), (name, reply)
        text = f"ping {n}"
        speaker = self.members["speaker"]
        ack = await speaker.call(
            "message", {"room": "watch", "text": text}, namespace="/chat", timeout=3
        )
        assert "id" in ack, ack
        for name in ("watcher", "poller"):
            inbox = self.inboxes[name]
            while (await asyncio.wait_for(inbox.get(), 3)).get("text") != text:
                pass  # a hostile session may have spoken in the room too
        deadline = time.monotonic() + 3
        while await self.state() != self.baseline and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        now = await self.state()
        changed = {k: (self.baseline[k], now[k]) for k in now if now[k] != self.baseline[k]}
        assert not changed, f"per-connection state left behind (baseline, now): {changed}"

    async def stop(self) -> None:
        for client in self.members.values():
            await client.disconnect()
            await client.shutdown()
        await self.http.close()
        await self.runner.cleanup()
        # Connection handlers of hostile requests may still be finishing: end them before the
        # loop closes (a task destroyed while pending is logged as an error at a later test).
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in rest:
            task.cancel()
        if rest:
            await asyncio.wait(rest, timeout=5)


async def hostile_session(node: Node, spec: dict[str, Any], closer: str | Raw) -> None:
    """Play one session; a websocket or polling one ends with ``closer`` (invalid in any
    state) and must then have been closed by the server (else it goes to ``node.unclosed``)."""
    node.sessions += 1
    if spec["transport"] == "websocket":
        await _websocket(node, spec, closer)
    elif spec["transport"] == "polling":
        await _polling(node, spec, closer)
    else:
        await _raw(node, spec["bytes"])


def _describe(spec: dict[str, Any], closer: str | Raw) -> str:
    text = repr(spec)
    return (text if len(text) < 400 else text[:400] + "...") + f" then {closer!r}"


def _frames(spec: dict[str, Any]) -> list[Any]:
    frames: list[Any] = list(prelude(spec["connect"]))
    for item in spec["frames"]:
        if isinstance(item, Binary):
            frames += [item.head, *item.attachments]
        elif isinstance(item, Big):
            frames.append(item.frame())
        else:
            frames.append(item.value if isinstance(item, Long) else item)
    return frames


# -- websocket ---------------------------------------------------------------------------------
async def _websocket(node: Node, spec: dict[str, Any], closer: str | Raw) -> None:
    url = node.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    try:
        async with asyncio.timeout(3):
            ws = await node.http.ws_connect(url, autoping=True, max_msg_size=0)
    except (aiohttp.ClientError, TimeoutError):
        return
    try:
        async with asyncio.timeout(3):
            await ws.receive()  # OPEN
            for frame in [*_frames(spec), closer]:
                if ws.closed:
                    break
                node.inputs += 1
                if isinstance(frame, Raw):
                    await ws.send_frame(frame.data, aiohttp.WSMsgType.TEXT)
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


# -- long-polling ------------------------------------------------------------------------------
def _body(frame: Any) -> bytes:
    """One Engine.IO polling packet as POST body bytes (binary as "b" + base64)."""
    if isinstance(frame, Raw):
        return frame.data
    if isinstance(frame, bytes):
        return b"b" + base64.b64encode(frame)
    return str(frame).encode("utf-8", "surrogatepass")


class Held:
    """A POST on a raw connection whose body is only partly sent."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def start(cls, url: str, body: bytes, length: int) -> Held:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        head = (
            f"POST {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Length: {length}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
        return cls(reader, writer)

    async def trickle(self, body: bytes, pieces: int, gap: float) -> None:
        """Send the rest of the body a piece per ``gap`` seconds until it is complete or the
        server answers (408, once body_timeout has passed)."""
        answer = asyncio.ensure_future(self.reader.readline())
        step = max(1, len(body) // pieces)
        try:
            for at in range(0, len(body), step):
                await asyncio.wait((answer,), timeout=gap)
                if answer.done():
                    return
                self.writer.write(body[at : at + step])
                await self.writer.drain()
            await asyncio.wait((answer,), timeout=1)
        finally:
            answer.cancel()

    def close(self, abort: bool = False) -> None:
        if abort:
            self.writer.transport.abort()
        else:
            self.writer.close()


async def _polling(node: Node, spec: dict[str, Any], closer: str | Raw) -> None:
    base = node.url + "/socket.io/?EIO=4&transport=polling"
    sid = None
    held: Held | None = None
    requests = spec["requests"]
    try:
        async with asyncio.timeout(3):
            async with node.http.get(base) as r:
                sid = json.loads((await r.text())[1:])["sid"]
            url = f"{base}&sid={sid}"
            frames = _frames(spec)
            if requests in ("overlap", "abort", "trickle"):
                node.inputs += 1
                body = _body(frames[-1]) if frames else b"40"
                held = await Held.start(url, body[:1], len(body) + (requests != "trickle"))
                if requests == "abort":
                    held.close(abort=True)
                    held = None
                elif requests == "trickle":
                    await held.trickle(body[1:], 3, BODY_TIMEOUT / 2)
            for frame in [*frames, closer]:
                node.inputs += 1
                async with node.http.post(url, data=_body(frame)) as r:
                    await r.read()
                    if r.status != 200:
                        break
            # The POST that carried invalid input is answered once the server began closing.
            session = node.app[SIO].eio.sockets.get(sid)
            if session is not None and not (session.closing or session.closed):
                node.unclosed.append(_describe(spec, closer))
            polls = 2 if requests == "double-poll" else 1
            node.inputs += polls - 1
            async with asyncio.timeout(READ_WINDOW * 4):
                await asyncio.gather(*(_get(node.http, url) for _ in range(polls)))
    except (aiohttp.ClientError, ConnectionError, TimeoutError, ValueError, KeyError):
        pass
    finally:
        if held is not None:
            held.close()
        if sid is not None:
            await _leave(node, f"{base}&sid={sid}")


async def _get(http: aiohttp.ClientSession, url: str) -> None:
    async with http.get(url) as r:
        await r.read()


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
    except (aiohttp.ClientError, ConnectionError, TimeoutError):
        pass


# -- raw connections ---------------------------------------------------------------------------
async def _raw(node: Node, data: bytes) -> None:
    """The start of a request (or junk), then silence: the server must not hold anything for
    it beyond its timeouts, nor be disturbed by it."""
    node.inputs += 1
    parts = urlsplit(node.url)
    try:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    except OSError:
        return
    try:
        writer.write(data)
        await writer.drain()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(READ_WINDOW):
                await reader.read(1024)
    except ConnectionError:
        pass
    finally:
        writer.close()
