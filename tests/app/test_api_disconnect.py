"""``POST /api/v1/disconnect`` on one node: by sid, by room, by subject (narrowed to a
namespace), and a clear 4xx for anything else. Cluster-wide closing: tests/scaleout/."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp.test_utils import TestServer

from socketsvc.app.factory import SIO
from tests.conftest import CLIENT_SERIALIZERS, Inbox, StartServer, eventually
from tests.security.conftest import AUTH_SETTINGS, token

KEY = "test-key-0123456789"


@pytest.fixture
async def server(start_server: StartServer) -> TestServer:
    return await start_server(**AUTH_SETTINGS, api_key=KEY)


async def post(srv: TestServer, body: Any, key: str = KEY, raw: bytes | None = None) -> Any:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    url = str(srv.make_url("/api/v1/disconnect"))
    async with aiohttp.ClientSession() as http:
        data = raw if raw is not None else json.dumps(body).encode()
        async with http.post(url, data=data, headers=headers) as r:
            if r.content_type != "application/json":
                return r.status, await r.text()
            return r.status, await r.json()


class Member:
    """A python-socketio client that records which of its namespaces the server closed."""

    def __init__(self, serializer: str) -> None:
        self.client = socketio.AsyncClient(
            serializer=CLIENT_SERIALIZERS[serializer], reconnection=False
        )
        self.closed: dict[str, asyncio.Event] = {}

    async def connect(
        self, srv: TestServer, namespaces: list[str], transport: str, tok: str | None
    ) -> Member:
        for ns in namespaces:
            self.closed[ns] = asyncio.Event()
            self.client.on("disconnect", self.closed[ns].set, namespace=ns)
        await self.client.connect(
            str(srv.make_url("/")),
            namespaces=namespaces,
            transports=[transport],
            auth={"token": tok} if tok else {},
            wait_timeout=5,
        )
        return self

    async def gone(self, namespace: str) -> None:
        await asyncio.wait_for(self.closed[namespace].wait(), 5)

    async def alive(self, namespace: str) -> bool:
        """Answers a call (so it was not closed before now)."""
        reply = await self.client.call("whoami", namespace=namespace, timeout=5)
        return reply is None or isinstance(reply, dict)


@pytest.fixture
async def member(serializer: str, transport: str, server: TestServer) -> Any:
    made: list[Member] = []

    async def make(namespaces: list[str], tok: str | None = None) -> Member:
        m = await Member(serializer).connect(server, namespaces, transport, tok)
        made.append(m)
        return m

    yield make
    for m in made:
        await m.client.disconnect()
        await m.client.shutdown()


ACCEPTED = (202, {"status": "accepted"})


async def test_by_sid_closes_that_namespace_connection_only(
    server: TestServer, member: Any
) -> None:
    target, bystander = await member(["/test"]), await member(["/test"])
    sid = target.client.get_sid("/test")
    assert await post(server, {"sid": sid, "namespace": "/chat"}) == ACCEPTED  # not there
    assert await target.alive("/test")
    assert await post(server, {"sid": sid}) == ACCEPTED
    await target.gone("/test")
    assert await bystander.alive("/test")


async def test_by_room_closes_everyone_in_it(server: TestServer, member: Any) -> None:
    inside = [await member(["/test"]) for _ in range(2)]
    outside = await member(["/test"])
    for m in inside:
        members = await m.client.call("enter", "crew", namespace="/test", timeout=5)
        assert m.client.get_sid("/test") in members
    assert await post(server, {"namespace": "/test", "room": "crew"}) == ACCEPTED
    for m in inside:
        await m.gone("/test")
    assert await outside.alive("/test")
    assert await post(server, {"namespace": "/test", "room": "nobody-here"}) == ACCEPTED


async def test_by_subject_narrowed_to_a_namespace(server: TestServer, member: Any) -> None:
    user = await member(["/test", "/chat"], token(sub="u-7"))
    other = await member(["/chat"], token(sub="u-8"))
    assert await post(server, {"subject": "u-7", "namespace": "/chat"}) == ACCEPTED
    await user.gone("/chat")
    assert await user.alive("/test") and not user.closed["/test"].is_set()
    assert not other.closed["/chat"].is_set()
    assert await post(server, {"subject": "u-7"}) == ACCEPTED
    await user.gone("/test")
    await eventually(lambda: server.app[SIO].connections.of_subject("u-7") == [])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "body: must be a JSON object"),
        ({}, "body: give exactly one of subject, sid, or namespace and room"),
        ({"subject": "u", "sid": "s"}, "body: give exactly one of subject, sid"),
        ({"room": "r"}, "namespace: required with room"),
        ({"namespace": "/chat"}, "body: give exactly one of"),
        ({"subject": ""}, "subject: must be a non-empty string"),
        ({"subject": 7}, "subject: must be a non-empty string"),
        ({"sid": "x" * 257}, "sid: must be a non-empty string of at most 256"),
        ({"subject": "u", "namespace": "chat"}, "namespace: must be a namespace path"),
        ({"subject": "u", "namespace": "/team/*"}, "namespace: must be a namespace path"),
        ({"subject": "u", "everyone": True}, "everyone: unknown field"),
    ],
)
async def test_bad_bodies_are_400_naming_the_field(
    start_server: StartServer, body: Any, message: str
) -> None:
    srv = await start_server(api_key=KEY)
    status, reply = await post(srv, body)
    assert status == 400 and reply["error"]["code"] == "bad_request"
    assert reply["error"]["message"].startswith(message), reply


async def test_unparsable_bodies_wrong_keys_and_no_api(start_server: StartServer) -> None:
    srv = await start_server(api_key=KEY)
    assert await post(srv, None, raw=b"{not json") == (
        400,
        {"error": {"code": "bad_request", "message": "body: not valid JSON"}},
    )
    assert (await post(srv, None, raw=b"\xff\xfe"))[0] == 400
    status, reply = await post(srv, None, raw=b"[" * 100_000 + b"]" * 100_000)
    assert status == 400, reply
    status, reply = await post(srv, {"subject": "u"}, key="wrong")
    assert (status, reply["error"]["code"]) == (401, "unauthorized")
    closed = await start_server()  # no api_key: no API
    assert (await post(closed, {"subject": "u"}))[0] == 404


async def test_a_closed_chat_member_is_announced_left_at_once_even_with_recovery(
    start_server: StartServer, serializer: str, transport: str
) -> None:
    """Closed for good: not kept for the recovery window (/chat keeps 120 s here)."""
    srv = await start_server(**AUTH_SETTINGS, api_key=KEY, namespace_recovery={"/chat": 120})
    fired = await Member(serializer).connect(srv, ["/chat"], transport, token(sub="u-5", name="Fi"))
    stays = await Member(serializer).connect(srv, ["/chat"], transport, token(sub="u-6"))
    try:
        left = Inbox(stays.client, "left")
        for m in (fired, stays):
            await m.client.call("join", {"room": "r"}, namespace="/chat", timeout=5)
        assert await post(srv, {"subject": "u-5"}) == ACCEPTED
        await fired.gone("/chat")
        data, _offset = await left.get()  # /chat with recovery: an offset as last argument
        assert data == {"room": "r", "name": "Fi"}
        members = await stays.client.call("members", {"room": "r"}, namespace="/chat", timeout=5)
        assert members == {"room": "r", "members": ["Alice"]}
    finally:
        for m in (fired, stays):
            await m.client.disconnect()
            await m.client.shutdown()
