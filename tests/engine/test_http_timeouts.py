"""Connections that stay silent, trickle or break off (slowloris), against the CLI node as
operators run it (``runner_options`` on the real runner, uvloop): ``keepalive_timeout`` closes
what has no complete request, ``body_timeout`` what does not finish its body; long-polls and
websockets are not idle and keep running."""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import urlsplit

import aiohttp
import pytest

from socketsvc.app.factory import SIO
from tests.cli_node import CliNode, cli_node
from tests.conftest import StartServer, eventually

KEEPALIVE = 0.5
OPTIONS = ("--keepalive-timeout", str(KEEPALIVE), "--ping-interval", "1.5", "--ping-timeout", "5")


async def closed_after(
    node: CliNode, steps: list[tuple[float, bytes]], within: float = 5.0
) -> tuple[float, bytes]:
    """Open a raw connection, send each ``(delay, data)`` step, read until the server closes
    it; return how long that took and what was read."""
    url = urlsplit(node.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    loop = asyncio.get_running_loop()
    started = loop.time()
    received = b""

    async def send() -> None:
        for delay, data in steps:
            await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()

    sender = asyncio.ensure_future(send())
    try:
        async with asyncio.timeout(within):
            while chunk := await reader.read(4096):
                received += chunk
    except ConnectionError:
        pass
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        writer.close()
    return loop.time() - started, received


async def test_silent_idle_and_trickling_connections_are_closed() -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    async with cli_node(*OPTIONS) as node:
        took, got = await closed_after(node, [])
        assert got == b"" and KEEPALIVE * 0.8 <= took < KEEPALIVE + 1.5, took
        trickle = [(0.1, bytes([c])) for c in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1"]
        took, got = await closed_after(node, trickle)  # 4 s of headers if never cut
        assert got == b"" and took < KEEPALIVE + 1.5, took
        took, got = await closed_after(node, [(0, request)])  # answered, then kept idle
        assert got.startswith(b"HTTP/1.1 200") and KEEPALIVE * 0.8 <= took < KEEPALIVE + 1.5
    assert "Traceback" not in node.output


async def test_long_polls_and_websockets_outlive_the_keepalive_timeout() -> None:
    async with cli_node(*OPTIONS) as node, aiohttp.ClientSession() as http:
        base = node.url + "/socket.io/?EIO=4&transport="
        async with http.get(base + "polling") as r:
            sid = json.loads((await r.text())[1:])["sid"]
        ws = await http.ws_connect(base.replace("http", "ws") + "websocket")
        await ws.receive()  # OPEN
        async with asyncio.timeout(5):
            # held for ping_interval (1.5 s, three keepalive timeouts), then the PING
            async with http.get(f"{base}polling&sid={sid}") as r:
                assert (r.status, await r.text()) == (200, "2")
            assert (await ws.receive()).data == "2"
        await ws.close()


async def test_an_aborted_post_closes_its_session_without_a_traceback() -> None:
    async with cli_node(*OPTIONS) as node, aiohttp.ClientSession() as http:
        base = node.url + "/socket.io/?EIO=4&transport=polling"
        async with http.get(base) as r:
            sid = json.loads((await r.text())[1:])["sid"]
        url = urlsplit(f"{base}&sid={sid}")
        _reader, writer = await asyncio.open_connection(url.hostname, url.port)
        head = f"POST {url.path}?{url.query} HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n"
        writer.write(head.encode() + b'42["message"')
        await writer.drain()
        writer.transport.abort()
        async with asyncio.timeout(5):
            while True:  # the session is closed when the connection goes, not at a heartbeat
                async with http.get(f"{base}&sid={sid}") as r:
                    if r.status == 400:
                        break
    assert "Traceback" not in node.output, node.output


async def test_overlap_and_abort_under_handler_cancellation_leave_no_session_or_traceback(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp's test server cancels a handler whose client goes away (the CLI's runner does
    not): the session closes on that path too; an overlapping POST is one warning."""
    srv = await start_server()
    sio = srv.app[SIO]
    async with aiohttp.ClientSession() as http:
        base = str(srv.make_url("/socket.io/")) + "?EIO=4&transport=polling"
        for overlap in (True, False):
            async with http.get(base) as r:
                sid = json.loads((await r.text())[1:])["sid"]
            _reader, writer = await asyncio.open_connection(srv.host, srv.port)
            head = f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
            writer.write(head.encode() + b"Host: x\r\nContent-Length: 50\r\n\r\n4")
            await writer.drain()
            if overlap:
                await eventually(lambda s=sid: sio.eio.sockets[s].receiving)
                async with http.post(f"{base}&sid={sid}", data="40") as r:
                    assert r.status == 400
            writer.transport.abort()
            await eventually(lambda s=sid: s not in sio.eio.sockets)
    overlaps = [r for r in caplog.records if "overlapping POST" in r.getMessage()]
    assert len(overlaps) == 1 and overlaps[0].levelno == logging.WARNING
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
