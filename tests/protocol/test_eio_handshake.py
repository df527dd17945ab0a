"""Engine.IO v4 handshake (polling and websocket) and request validation."""

from __future__ import annotations

import json

import aiohttp
import pytest
from protocol_client import PING_INTERVAL, PING_TIMEOUT, Polling, WebSocket, eio_url, http

OPEN_KEYS = ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]


def check_open(value: dict, upgrades: list[str]) -> None:
    assert sorted(value) == OPEN_KEYS
    assert isinstance(value["sid"], str) and value["sid"]
    assert value["upgrades"] == upgrades
    assert value["pingInterval"] == int(PING_INTERVAL * 1000)
    assert value["pingTimeout"] == int(PING_TIMEOUT * 1000)
    assert value["maxPayload"] == 1_000_000


async def test_polling_handshake(target, session):
    status, text = await http(session, "GET", eio_url(target, EIO=4, transport="polling"))
    assert status == 200
    assert text[0] == "0"
    check_open(json.loads(text[1:]), ["websocket"])


async def test_websocket_handshake(target, session):
    c = await WebSocket.connect(session, target)
    first = await c.recv_raw()
    assert isinstance(first, str) and first[0] == "0"
    check_open(json.loads(first[1:]), [])
    await c.close()


@pytest.mark.parametrize("eio", [None, "3", "abc"])
async def test_polling_bad_eio(target, session, eio):
    status, _ = await http(session, "GET", eio_url(target, EIO=eio, transport="polling"))
    assert status == 400


@pytest.mark.parametrize("transport", [None, "abc"])
async def test_polling_bad_transport(target, session, transport):
    status, text = await http(session, "GET", eio_url(target, EIO=4, transport=transport))
    assert status == 400
    assert json.loads(text) == {"code": 0, "message": "Transport unknown"}


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_handshake_bad_method(target, session, method):
    status, text = await http(session, method, eio_url(target, EIO=4, transport="polling"), data="")
    assert status == 400
    assert json.loads(text) == {"code": 2, "message": "Bad handshake method"}


async def test_websocket_transport_without_upgrade(target, session):
    status, _ = await http(session, "GET", eio_url(target, EIO=4, transport="websocket"))
    assert status == 400


async def refused(session, url) -> bool:
    """True if the websocket handshake fails or the socket is closed at once."""
    try:
        ws = await session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=2))
    except aiohttp.WSServerHandshakeError:
        return True
    c = WebSocket(ws)
    await c.wait_closed()
    return True


@pytest.mark.parametrize(
    "query",
    [
        {"transport": "websocket"},  # no EIO
        {"EIO": 3, "transport": "websocket"},
        {"EIO": "abc", "transport": "websocket"},
        {"EIO": 4},  # no transport
        {"EIO": 4, "transport": "abc"},
    ],
)
async def test_websocket_bad_query(target, session, query):
    assert await refused(session, eio_url(target, ws=True, **query))


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_unknown_sid(target, session, method):
    url = eio_url(target, EIO=4, transport="polling", sid="nope")
    status, text = await http(session, method, url, data="40" if method == "POST" else None)
    assert status == 400
    assert json.loads(text) == {"code": 1, "message": "Session ID unknown"}


async def test_websocket_unknown_sid(target, session):
    assert await refused(
        session, eio_url(target, ws=True, EIO=4, transport="websocket", sid="nope")
    )


async def test_polling_session_rejects_websocket_transport_param_without_upgrade(target, session):
    c = await Polling.open(session, target)
    url = eio_url(target, EIO=4, transport="websocket", sid=c.sid)
    status, _ = await http(session, "GET", url)
    assert status == 400
