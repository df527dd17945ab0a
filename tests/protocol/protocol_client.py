"""Minimal raw Engine.IO v4 / Socket.IO v5 client used by the protocol suite.

Speaks plain HTTP long-polling and raw websocket frames through
``aiohttp.ClientSession``. Every wait is bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp


@dataclass(frozen=True)
class Target:
    name: str
    http: str  # e.g. http://127.0.0.1:1234
    path: str = "/socket.io/"

    @property
    def ws(self) -> str:
        return "ws" + self.http[len("http") :]


WAIT = 2.0  # default upper bound for one expected event, seconds
PING_INTERVAL = 0.3
PING_TIMEOUT = 0.2


def eio_url(target: Target, ws: bool = False, **query: Any) -> str:
    base = target.ws if ws else target.http
    q = {k: v for k, v in query.items() if v is not None}
    return f"{base}{target.path}?{urlencode(q)}"


def split_payload(text: str) -> list[str]:
    return text.split("\x1e") if text else []


def parse_open(packet: str) -> dict[str, Any]:
    assert packet[0] == "0", packet
    return json.loads(packet[1:])


async def http(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    data: str | bytes | None = None,
    within: float = WAIT,
) -> tuple[int, str]:
    async with asyncio.timeout(within):
        async with session.request(method, url, data=data) as resp:
            return resp.status, await resp.text()


class _Receiver:
    """``recv_until`` on top of a transport's ``recv``."""

    async def recv(self, within: float = WAIT) -> Any:
        raise NotImplementedError

    async def recv_until(
        self, pred: Callable[[list[Any]], bool], within: float = WAIT
    ) -> list[Any]:
        got: list[Any] = []
        async with asyncio.timeout(within):
            while not pred(got):
                got.append(await self.recv(within))
        return got


class Polling(_Receiver):
    """One long-polling Engine.IO session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        target: Target,
        sid: str,
        handshake: dict[str, Any],
        extra: list[str],
    ) -> None:
        self.session = session
        self.target = target
        self.sid = sid
        self.handshake = handshake
        self.pending: deque[str] = deque(extra)
        self.auto_pong = True

    @classmethod
    async def open(cls, session: aiohttp.ClientSession, target: Target) -> Polling:
        status, text = await http(session, "GET", eio_url(target, EIO=4, transport="polling"))
        assert status == 200, (status, text)
        packets = split_payload(text)
        handshake = parse_open(packets[0])
        return cls(session, target, handshake["sid"], handshake, packets[1:])

    @property
    def url(self) -> str:
        return eio_url(self.target, EIO=4, transport="polling", sid=self.sid)

    async def get(self, within: float = WAIT) -> tuple[int, str]:
        return await http(self.session, "GET", self.url, within=within)

    async def post(self, *packets: str, within: float = WAIT) -> tuple[int, str]:
        return await http(self.session, "POST", self.url, data="\x1e".join(packets), within=within)

    async def send(self, *packets: str) -> None:
        status, text = await self.post(*packets)
        assert (status, text) == (200, "ok")

    async def recv(self, within: float = WAIT) -> str:
        """Next packet other than a PING (PINGs are answered when auto_pong)."""
        async with asyncio.timeout(within):
            for _ in range(1000):
                while self.pending:
                    pkt = self.pending.popleft()
                    if pkt == "2" and self.auto_pong:
                        await self.send("3")
                        continue
                    if pkt == "6":
                        continue
                    return pkt
                status, text = await self.get(within=within)
                assert status == 200, (status, text)
                self.pending.extend(split_payload(text))
        raise AssertionError("too many polls")


class WebSocket(_Receiver):
    """One websocket Engine.IO session (or a raw websocket during an upgrade)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.auto_pong = True
        self.handshake: dict[str, Any] = {}

    @classmethod
    async def connect(
        cls, session: aiohttp.ClientSession, target: Target, sid: str | None = None, **query: Any
    ) -> WebSocket:
        q: dict[str, Any] = {"EIO": 4, "transport": "websocket", "sid": sid}
        q.update(query)
        async with asyncio.timeout(WAIT):
            ws = await session.ws_connect(
                eio_url(target, ws=True, **q), autoping=True, autoclose=True
            )
        return cls(ws)

    @classmethod
    async def open(cls, session: aiohttp.ClientSession, target: Target) -> WebSocket:
        c = await cls.connect(session, target)
        c.handshake = parse_open(await c.recv_raw())
        return c

    @property
    def sid(self) -> str:
        return str(self.handshake["sid"])

    async def send(self, *packets: str | bytes) -> None:
        for p in packets:
            if isinstance(p, bytes):
                await self.ws.send_bytes(p)
            else:
                await self.ws.send_str(p)

    async def recv_raw(self, within: float = WAIT) -> str | bytes:
        async with asyncio.timeout(within):
            msg = await self.ws.receive()
        if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            return msg.data  # type: ignore[no-any-return]
        raise ConnectionError(f"websocket closed ({msg.type!r})")

    async def recv(self, within: float = WAIT) -> str | bytes:
        async with asyncio.timeout(within):
            for _ in range(1000):
                data = await self.recv_raw(within)
                if data == "2" and self.auto_pong:
                    await self.send("3")
                    continue
                return data
        raise AssertionError("too many frames")

    async def wait_closed(self, within: float = WAIT) -> list[Any]:
        """Read (answering pings) until the server closes; return what arrived."""
        got: list[Any] = []
        async with asyncio.timeout(within):
            for _ in range(10_000):
                try:
                    got.append(await self.recv(within))
                except ConnectionError:
                    return got
        raise AssertionError("too many frames")

    async def close(self) -> None:
        if not self.ws.closed:
            async with asyncio.timeout(WAIT):
                await self.ws.close()


# ------------------------------------------------------------------- Socket.IO
def sio_connect_packet(nsp: str = "/", auth: Any = None) -> str:
    prefix = "40" if nsp == "/" else f"40{nsp},"
    return prefix + (json.dumps(auth, separators=(",", ":")) if auth is not None else "")


def sio_event(nsp: str, *args: Any, ack: int | None = None) -> str:
    prefix = "42" if nsp == "/" else f"42{nsp},"
    return (
        prefix
        + (str(ack) if ack is not None else "")
        + json.dumps(list(args), separators=(",", ":"))
    )


async def sio_connect(
    client: Polling | WebSocket, nsp: str = "/", auth: Any = None
) -> tuple[str, Any]:
    """CONNECT to ``nsp``; return (Socket.IO sid, auth echoed by the server).

    The CONNECT reply and the ``auth`` event may come in either order.
    """
    await client.send(sio_connect_packet(nsp, auth))
    head = "40" if nsp == "/" else f"40{nsp},"
    ev = '42["auth",' if nsp == "/" else f'42{nsp},["auth",'

    def done(got: list[Any]) -> bool:
        return any(isinstance(p, str) and p.startswith(head) for p in got) and any(
            isinstance(p, str) and p.startswith(ev) for p in got
        )

    got = await client.recv_until(done)
    connect = next(p for p in got if p.startswith(head))
    auth_ev = next(p for p in got if p.startswith(ev))
    sid = json.loads(connect[len(head) :])["sid"]
    return sid, json.loads(auth_ev[len(ev) - len('["auth",') :])[1]


class Clock:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.t0
