"""The Admin UI's server side (``admin_ui = true``) spoken to by a real Socket.IO client, the way
``@socket.io/admin-ui`` speaks to it: login, the snapshots, the live feed and the actions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import bcrypt
import pytest
import socketio

from socketsvc.admin.feed import AdminFeed
from socketsvc.config import Settings
from socketsvc.engine.traffic import Traffic
from socketsvc.errors import ConfigError
from tests.conftest import Inbox, StartServer, eventually
from tests.security.conftest import AUTH_SETTINGS, token

PASSWORD = "changeit"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()  # cost 4: fast tests
ADMIN = {"admin_ui": True, "admin_password_hash": HASH}
EVENTS = [
    "session", "config", "all_sockets", "server_stats", "socket_connected", "socket_updated",
    "socket_disconnected", "room_joined", "room_left", "event_received", "event_sent",
]  # fmt: skip


class Admin:
    """An Admin UI stand-in: a client of ``/admin`` with an inbox per server event."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient()
        self.inbox = {event: Inbox(self.client, event, "/admin") for event in EVENTS}
        self.refusals: list[Any] = []
        self.client.on("connect_error", self.refusals.append, namespace="/admin")

    async def login(self, url: str, auth: dict[str, Any]) -> None:
        await self.client.connect(url, namespaces=["/admin"], auth=auth, wait_timeout=5)

    async def next(self, event: str, where: Any = None) -> Any:
        """The next ``event`` (whose arguments satisfy ``where``, when given)."""
        while True:
            args = await self.inbox[event].get()
            if where is None or where(args):
                return args

    async def emit(self, event: str, *args: Any) -> None:
        await self.client.emit(event, args, namespace="/admin")


@pytest.fixture
async def admins() -> AsyncIterator[list[Admin]]:
    made: list[Admin] = []
    yield made
    for admin in made:
        await admin.client.disconnect()
        await admin.client.shutdown()


@pytest.fixture
async def users() -> AsyncIterator[list[socketio.AsyncClient]]:
    made: list[socketio.AsyncClient] = []
    yield made
    for client in made:
        await client.disconnect()
        await client.shutdown()


async def user(url: str, made: list[socketio.AsyncClient], **options: Any) -> socketio.AsyncClient:
    client = socketio.AsyncClient(**options)
    made.append(client)
    await client.connect(url, namespaces=["/test"], wait_timeout=5)
    return client


def counted(aggregated: list[dict[str, Any]]) -> set[str]:
    """The types of the UI's aggregatedEvents entries with a count."""
    return {entry["type"] for entry in aggregated if entry["count"] > 0}


async def test_login_snapshot_feed_and_actions(
    start_server: StartServer, admins: list[Admin], users: list[socketio.AsyncClient]
) -> None:
    srv = await start_server(**ADMIN)
    url = str(srv.make_url("/"))
    alice = await user(url, users)
    await alice.call("enter", "lobby", namespace="/test")

    refused = Admin()
    admins.append(refused)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await refused.login(url, {"username": "admin", "password": "wrong"})
    assert refused.refusals[0]["message"] == "invalid credentials"

    admin = Admin()
    admins.append(admin)
    await admin.login(url, {"username": "admin", "password": PASSWORD})
    session = await admin.next("session")
    config = await admin.next("config")
    assert {"EMIT", "JOIN", "LEAVE", "DISCONNECT", "ALL_EVENTS"} <= set(config["supportedFeatures"])
    (alice_seen,) = await admin.next("all_sockets")
    assert alice_seen["id"] == alice.get_sid("/test") and alice_seen["nsp"] == "/test"
    assert set(alice_seen["rooms"]) == {alice.get_sid("/test"), "lobby"}
    assert alice_seen["transport"] == "websocket" and alice_seen["handshake"]["address"]
    stats = await admin.next("server_stats")
    assert stats["clientsCount"] == 2 and stats["pollingClientsCount"] == 0
    assert {"name": "/test", "socketsCount": 1} in stats["namespaces"]

    bob = await user(url, users, serializer="msgpack")
    bob_sid = bob.get_sid("/test")
    seen, _ = await admin.next("socket_connected", lambda a: a[0]["id"] == bob_sid)
    assert seen["nsp"] == "/test" and seen["handshake"]["issued"] > 0
    await bob.call("enter", "lobby", namespace="/test")
    assert (await admin.next("room_joined", lambda a: a[1] == "lobby"))[:3] == (
        "/test", "lobby", bob_sid,
    )  # fmt: skip
    _, _, args, _ = await admin.next("event_received", lambda a: a[1] == bob_sid)
    assert args == ["enter", "lobby"]
    await alice.call("shout", ("lobby", "hi"), namespace="/test")
    sent = await admin.next("event_sent", lambda a: a[2][0] == "shout")
    assert sent[:3] == ("/test", bob_sid, ["shout", {"text": "hi"}])
    # the charts' traffic: the engine's totals, counted from one stats tick to the next
    traffic = {"packetsIn", "bytesIn", "packetsOut", "bytesOut"}
    await admin.next("server_stats", lambda s: traffic <= counted(s["aggregatedEvents"]))

    # actions, on one socket (the UI's filter is the socket's id)
    shouts = Inbox(bob, "shout", "/test")
    await admin.emit("emit", "/test", bob_sid, "shout", {"text": "from admin"})
    assert await shouts.get() == {"text": "from admin"}
    await admin.emit("join", "/test", "vip", bob_sid)
    await admin.next("room_joined", lambda a: a[1:3] == ("vip", bob_sid))
    await admin.emit("leave", "/test", "vip", bob_sid)
    await admin.next("room_left", lambda a: a[1:3] == ("vip", bob_sid))
    await admin.emit("_disconnect", "/test", False, bob_sid)
    _, _, reason, _ = await admin.next("socket_disconnected", lambda a: a[1] == bob_sid)
    assert reason == "server disconnect"
    await eventually(lambda: not bob.connected)

    # the session id logs in again without the password
    again = Admin()
    admins.append(again)
    await again.login(url, {"sessionId": session})
    assert (await again.next("config"))["supportedFeatures"]

    # metrics and the Admin UI watch together (one combined observer): both saw everything
    async with aiohttp.ClientSession() as http, http.get(srv.make_url("/metrics")) as r:
        text = await r.text()
    assert 'socketsvc_events_received_total{namespace="/test"} 3.0' in text  # enter x2, shout
    assert 'socketsvc_namespace_connects_total{namespace="/admin"} 2.0' in text
    assert 'socketsvc_namespace_refusals_total{code="unauthorized",namespace="/admin"} 1.0' in text


async def test_read_only_admin_sees_but_cannot_act(
    start_server: StartServer, admins: list[Admin], users: list[socketio.AsyncClient]
) -> None:
    srv = await start_server(**ADMIN, admin_read_only=True)
    url = str(srv.make_url("/"))
    alice = await user(url, users)
    admin = Admin()
    admins.append(admin)
    await admin.login(url, {"username": "admin", "password": PASSWORD})
    features = (await admin.next("config"))["supportedFeatures"]
    assert "EMIT" not in features and "DISCONNECT" not in features
    assert len(await admin.next("all_sockets")) == 1
    sid = alice.get_sid("/test")
    reply = await admin.client.call("_disconnect", ("/test", False, sid), namespace="/admin")
    assert reply["error"]["code"] == "forbidden"
    reply = await admin.client.call("join", ("/test", "vip", sid), namespace="/admin")
    assert reply["error"]["code"] == "forbidden"
    assert alice.connected  # the error ack came after the handler: nothing was done
    assert alice.get_sid("/test") == sid


async def test_admin_namespace_needs_no_jwt_when_others_do(
    start_server: StartServer, admins: list[Admin]
) -> None:
    srv = await start_server(**ADMIN, **{**AUTH_SETTINGS, "auth": "required"})
    admin = Admin()
    admins.append(admin)
    await admin.login(str(srv.make_url("/")), {"username": "admin", "password": PASSWORD})
    assert (await admin.next("config"))["supportedFeatures"]
    assert token()  # the rest of the node still wants tokens: see tests/security/test_auth.py


async def test_ui_is_served_only_when_enabled(start_server: StartServer) -> None:
    on = await start_server(**ADMIN)
    off = await start_server()
    async with aiohttp.ClientSession() as http:
        async with http.get(on.make_url("/admin"), allow_redirects=True) as r:
            assert r.status == 200 and "Socket.IO Admin UI" in await r.text()
        async with http.get(on.make_url("/admin/LICENSE")) as r:
            assert r.status == 200 and "Socket.IO team" in await r.text()
        async with http.get(off.make_url("/admin/")) as r:
            assert r.status == 404


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"admin_ui": True}, "admin_password_hash"),
        ({**ADMIN, "admin_password_hash": "plain"}, "admin_password_hash"),
        ({**ADMIN, "admin_namespace": "/chat"}, "admin_namespace"),
        ({**ADMIN, "admin_namespace": "/team/*"}, "admin_namespace"),
        ({**ADMIN, "admin_username": ""}, "admin_username"),
    ],
)
def test_bad_admin_settings_name_the_setting(overrides: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=f"^{named}:"):
        Settings(**overrides)


async def test_a_flood_of_bad_logins_does_not_stall_the_node(
    start_server: StartServer, users: list[socketio.AsyncClient]
) -> None:
    srv = await start_server(**ADMIN)
    url = str(srv.make_url("/"))

    async def attempt() -> None:
        client = socketio.AsyncClient()
        try:
            with pytest.raises(socketio.exceptions.ConnectionError):
                await client.connect(
                    url, namespaces=["/admin"], auth={"username": "admin", "password": "x"},
                    wait_timeout=5, retry=False,
                )  # fmt: skip
        finally:
            await client.shutdown()

    flood = asyncio.gather(*(attempt() for _ in range(10)))
    alice = await user(url, users)
    assert await alice.call("ack-echo", 1, namespace="/test", timeout=2) == 1
    await flood


def test_traffic_is_spread_over_the_seconds_between_ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Packets and bytes come from the engine's running totals at each stats tick: the growth
    is spread over the whole seconds since the last tick, nothing is lost or counted twice,
    and what passed while nobody watched is never reported."""
    feed, traffic, clock = AdminFeed("/admin"), Traffic(), [100.5]
    monkeypatch.setattr("socketsvc.admin.feed.now", lambda: clock[0])

    def per_second(entries: list[dict[str, Any]], kind: str) -> dict[int, int]:
        return {e["timestamp"] // 1000: e["count"] for e in entries if e["type"] == kind}

    traffic.packets_in = 7  # before anybody watched
    feed.watching = True
    assert feed.take_counts(traffic) == []  # the starting point only
    traffic.packets_in += 10
    traffic.bytes_out += 5
    clock[0] = 103.2
    taken = feed.take_counts(traffic)
    assert per_second(taken, "packetsIn") == {100: 3, 101: 3, 102: 4}
    assert per_second(taken, "bytesOut") == {100: 1, 101: 1, 102: 3}
    assert per_second(taken, "packetsOut") == {}  # nothing sent: no entry
    traffic.packets_in += 2
    assert per_second(feed.take_counts(traffic), "packetsIn") == {103: 2}  # same second
    feed.watching = False
    traffic.packets_in += 4
    assert per_second(feed.take_counts(traffic), "packetsIn") == {103: 4}  # up to the last admin
    traffic.packets_in += 50
    clock[0] = 110.0
    feed.watching = True
    assert feed.take_counts(traffic) == []  # unwatched traffic is not reported
