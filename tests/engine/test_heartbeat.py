"""The heartbeat's deadlines with room to tell them apart (the protocol suite, shared with
Node, runs with 300/200 ms, too tight to tell "refreshed" from "not refreshed").

Real server, raw websocket: the client answers PINGs only when the test says so."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from tests.conftest import StartServer

INTERVAL, TIMEOUT = 0.2, 1.2


async def test_a_packet_while_a_pong_is_awaited_moves_the_deadline_by_one_timeout(
    start_server: StartServer,
) -> None:
    """PING at t; a message at t + T/2 moves the PONG deadline to t + 3T/2, so a PONG at
    t + 5T/4, late for the first deadline, keeps the session (Node: onPacket refreshes the
    ping timeout). Once per PING, and again at the next PING: two cycles; the session then
    serves as before."""
    srv = await start_server(ping_interval=INTERVAL, ping_timeout=TIMEOUT)
    loop = asyncio.get_running_loop()
    url = str(srv.make_url("/socket.io/")) + "?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.receive_str()  # OPEN
        await ws.send_str("40/test,")
        assert (await ws.receive_str()).startswith("40/test,")
        for cycle in range(2):
            assert await asyncio.wait_for(ws.receive_str(), 5) == "2", cycle
            pinged = loop.time()
            await asyncio.sleep(TIMEOUT / 2)  # the client's timing is the behaviour under test
            await ws.send_str('42/test,["echo","still here"]')
            await asyncio.sleep(pinged + TIMEOUT * 5 / 4 - loop.time())
            await ws.send_str("3")
        await ws.send_str('42/test,7["echo","alive"]')
        assert await asyncio.wait_for(ws.receive_str(), 5) == '43/test,7["alive"]'


async def test_a_post_while_a_pong_is_awaited_moves_the_deadline_too(
    start_server: StartServer,
) -> None:
    """The same over long-polling, where packets arrive in POSTs."""
    srv = await start_server(ping_interval=INTERVAL, ping_timeout=TIMEOUT)
    loop = asyncio.get_running_loop()
    base = str(srv.make_url("/socket.io/")) + "?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        async with http.get(base) as r:
            url = base + "&sid=" + json.loads((await r.text())[1:])["sid"]

        async def post(body: str) -> int:
            async with http.post(url, data=body) as r:
                return r.status

        assert await post("40/test,") == 200
        async with http.get(url) as r:
            assert (await r.text()).startswith("40/test,")
        async with http.get(url) as r:
            assert await r.text() == "2"
        pinged = loop.time()
        await asyncio.sleep(TIMEOUT / 2)  # the client's timing is the behaviour under test
        assert await post('42/test,["echo","still here"]') == 200
        await asyncio.sleep(pinged + TIMEOUT * 5 / 4 - loop.time())
        assert await post("3") == 200  # in time for the moved deadline
        assert await post('42/test,7["echo","alive"]') == 200
        async with http.get(url) as r:
            assert await r.text() == '43/test,7["alive"]'
