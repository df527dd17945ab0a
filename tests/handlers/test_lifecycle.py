"""State, services and lifecycle: pattern instances released through on_release (or kept),
lifespan hooks that provide services, the handshake, and a pattern class whose constructor
fails."""

from __future__ import annotations

import logging

import pytest
import socketio
from aiohttp.test_utils import TestServer

from socketsvc.app.factory import SERVICES, SIO
from tests.conftest import CLIENT_SERIALIZERS, Connect, Inbox, StartServer, eventually
from tests.sample_handlers import BOARDS, LIFESPAN_EVENTS, KeptNamespace


async def test_pattern_state_survives_its_last_client_through_on_release(
    connect: Connect, server: TestServer, serializer: str
) -> None:
    sio = server.app[SIO]
    alice = await connect(["/board/plans"])
    stroke = {"x": 3, "y": 4, "colour": "blue"}
    assert await alice.call("stroke", {"x": 1, "y": 2}, namespace="/board/plans") == 1
    assert await alice.call("stroke", stroke, namespace="/board/plans") == 2
    await alice.disconnect()
    # The last client left: on_release saved the strokes, then the instance was dropped.
    await eventually(lambda: "/board/plans" not in sio.namespace_handlers)
    saved = server.app[SERVICES][BOARDS]["/board/plans"]
    assert [(s.x, s.y, s.colour) for s in saved] == [(1, 2, "red"), (3, 4, "blue")]
    bob = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer])
    state = Inbox(bob, "state", "/board/plans")  # sent by after_connect: listen first
    await bob.connect(str(server.make_url("/")), namespaces=["/board/plans"])
    try:
        strokes = (await state.get())["strokes"]
    finally:
        await bob.disconnect()
        await bob.shutdown()
    assert strokes == [{"x": 1, "y": 2, "colour": "red"}, {"x": 3, "y": 4, "colour": "blue"}]


async def test_validation_of_pattern_payloads_uses_ranges_and_literals(connect: Connect) -> None:
    client = await connect(["/board/x"])
    reply = await client.call("stroke", {"x": -1, "y": 2}, namespace="/board/x")
    assert reply == {"error": {"code": "invalid_payload", "message": "'x' must be >= 0 (got -1)"}}
    reply = await client.call("stroke", {"x": 1, "y": 2, "colour": "pink"}, namespace="/board/x")
    assert reply["error"]["message"] == "'colour' must be one of 'red', 'green', 'blue'"


async def test_keep_when_empty_keeps_the_instance_and_shutdown_releases_it(
    start_server: StartServer, serializer: str
) -> None:
    KeptNamespace.released.clear()
    server = await start_server(serializer=serializer)
    url = str(server.make_url("/"))
    first = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer])
    await first.connect(url, namespaces=["/kept/a"], transports=["websocket"])
    await first.call("put", {"n": 1}, namespace="/kept/a", timeout=5)
    await first.disconnect()
    await eventually(lambda: not server.app[SIO].manager.rooms.get("/kept/a"))
    assert "/kept/a" in server.app[SIO].namespace_handlers
    second = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer])
    await second.connect(url, namespaces=["/kept/a"], transports=["websocket"])
    assert await second.call("get", namespace="/kept/a", timeout=5) == {"n": 1}
    await second.disconnect()
    await first.shutdown()
    await second.shutdown()
    assert "/kept/a" not in KeptNamespace.released
    await server.close()  # the node stops: every pattern instance still held is released
    assert "/kept/a" in KeptNamespace.released


async def test_lifespan_hook_provides_a_service_and_runs_its_shutdown_part(
    start_server: StartServer,
) -> None:
    LIFESPAN_EVENTS.clear()
    server = await start_server()
    assert LIFESPAN_EVENTS == ["started"]
    client = socketio.AsyncClient()
    await client.connect(str(server.make_url("/")), namespaces=["/board/z"])
    await client.call("stroke", {"x": 0, "y": 0}, namespace="/board/z", timeout=5)
    await client.disconnect()
    await client.shutdown()
    await server.close()
    # Clients are gone and pattern instances released before the hook's shutdown part runs.
    assert LIFESPAN_EVENTS == ["started", "stopped with ['/board/z']"]
    assert BOARDS not in server.app[SERVICES]


@pytest.mark.logs_tracebacks  # the constructor's failure, once, with its traceback
async def test_a_pattern_constructor_that_fails_refuses_the_connect_and_logs_once(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(2):
        seen: list[object] = []
        with pytest.raises(socketio.exceptions.ConnectionError):
            await connect(["/fragile/bad"], connect_errors=seen)
        assert seen == [{"message": "Internal server error", "data": {"code": "internal"}}]
    logged = [r for r in caplog.records if "FragileNamespace.__init__ failed" in r.getMessage()]
    assert len(logged) == 1
    ok = await connect(["/fragile/good"])
    assert await ok.call("ping", namespace="/fragile/good", timeout=5) == "pong"


async def test_handshake_reaches_after_connect_and_handlers(
    server: TestServer, serializer: str, transport: str
) -> None:
    client = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer])
    inbox = Inbox(client, "handshake", "/hs")
    await client.connect(
        str(server.make_url("/?room=5")),
        namespaces=["/hs"],
        transports=[transport],
        headers={"X-Custom": "yes"},
        auth={"token": "t", "n": 1},
    )
    try:
        first = await inbox.get()
        assert first["custom"] == "yes" and first["room"] == "5"
        assert first["transport"] == transport
        assert first["auth"] == {"token": "t", "n": 1}
        assert first["address"] == "127.0.0.1" and first["remote_addr"] == "127.0.0.1"
        assert first["secure"] is False and first["url"] == "/socket.io/"
        again = await client.call("handshake", namespace="/hs", timeout=5)
        assert again == {k: v for k, v in first.items() if k != "remote_addr"}
    finally:
        await client.disconnect()
        await client.shutdown()
    await eventually(lambda: not server.app[SIO].connections)


@pytest.mark.parametrize("trusted", [True, False])
async def test_handshake_address_is_the_client_behind_a_trusted_proxy(
    start_server: StartServer, trusted: bool
) -> None:
    server = await start_server(trusted_proxies=("127.0.0.1",) if trusted else ())
    client = socketio.AsyncClient()
    inbox = Inbox(client, "handshake", "/hs")
    await client.connect(
        str(server.make_url("/")),
        namespaces=["/hs"],
        transports=["websocket"],
        headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
    )
    try:
        seen = await inbox.get()
    finally:
        await client.disconnect()
        await client.shutdown()
    expected = "203.0.113.7" if trusted else "127.0.0.1"
    assert seen["address"] == expected and seen["remote_addr"] == expected
    assert seen["secure"] is trusted


async def test_start_up_log_names_each_namespace_class_and_auth_mode(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="socketsvc"):
        await start_server(
            jwt_secret="s" * 32, namespace_auth={"/hs": "required", "/board/*": "optional"}
        )
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("namespace ")]
    assert "namespace /chat: socketsvc.handlers.chat:ChatNamespace (auth none)" in lines
    assert "namespace /hs: tests.sample_handlers:HandshakeNamespace (auth required)" in lines
    assert (
        "namespace /board/*: tests.sample_handlers:BoardNamespace (auth optional, one instance "
        "per namespace, released when empty)" in lines
    )
    assert any(line.startswith("namespace /kept/*") and "kept when empty" in line for line in lines)
