"""The HTTP side of a node: health, the chat page, and its static assets."""

from __future__ import annotations

import socketio

from socketsvc import __version__
from socketsvc.app.factory import SIO
from tests.conftest import StartServer, eventually


async def test_healthz_reports_status_version_and_clients(
    start_server: StartServer, aiohttp_client
) -> None:  # type: ignore[no-untyped-def]
    server = await start_server()
    http = await aiohttp_client(server)
    response = await http.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "version": __version__, "clients": 0}
    client = socketio.AsyncClient()
    await client.connect(str(server.make_url("/")), namespaces=["/chat"])
    assert (await (await http.get("/healthz")).json())["clients"] == 1
    await client.disconnect()
    await client.shutdown()

    await eventually(lambda: not server.app[SIO].eio.sockets)
    assert (await (await http.get("/healthz")).json())["clients"] == 0


async def test_chat_page_and_assets_are_served(start_server: StartServer, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    http = await aiohttp_client(await start_server())
    page = await http.get("/")
    assert page.status == 200 and "text/html" in page.headers["Content-Type"]
    html = await page.text()
    for asset in ("/static/chat.js", "/static/chat.css"):
        assert asset in html
        assert (await http.get(asset)).status == 200


async def test_chat_page_can_be_turned_off(start_server: StartServer, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    http = await aiohttp_client(await start_server(chat_page=False))
    assert (await http.get("/")).status == 404
    assert (await http.get("/healthz")).status == 200
