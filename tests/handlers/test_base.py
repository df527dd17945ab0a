"""Handler modules: guarded dispatch, error acks, rooms, acks both ways, binary, namespaces."""

from __future__ import annotations

import asyncio
import logging

import pytest
import socketio

from tests.conftest import Connect, Inbox, eventually

NS = "/test"


async def call(client: socketio.AsyncClient, event: str, *args: object, ns: str = NS) -> object:
    data = args[0] if len(args) == 1 else tuple(args) if args else None
    return await client.call(event, data, namespace=ns, timeout=5)


async def test_return_value_is_the_ack(connect: Connect) -> None:
    client = await connect([NS])
    assert await call(client, "echo", "a", 1) == ("a", 1)
    assert await call(client, "ack-echo", {"nested": [1, {"x": None}]}) == {
        "nested": [1, {"x": None}]
    }


async def test_declared_payload_is_validated_and_errors_name_the_field(connect: Connect) -> None:
    client = await connect([NS])
    assert await call(client, "point", {"x": 1, "y": 2}) == {"sum": 3, "label": None}
    reply = await call(client, "point", {"x": 1, "y": "2"})
    assert reply == {"error": {"code": "invalid_payload", "message": "'y' must be an integer"}}
    reply = await call(client, "point", {"x": True, "y": 2})
    assert reply["error"]["code"] == "invalid_payload" and "'x'" in reply["error"]["message"]
    reply = await call(client, "point", {"x": 1, "y": 2}, "extra")
    assert reply["error"]["code"] == "invalid_payload"


@pytest.mark.logs_tracebacks
async def test_handler_exception_is_logged_and_answers_internal_without_details(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    client = await connect([NS])
    with caplog.at_level(logging.ERROR, logger="socketsvc.handlers"):
        reply = await call(client, "boom")
    assert reply == {"error": {"code": "internal", "message": "internal server error"}}
    assert "secret" not in str(reply)
    record = next(r for r in caplog.records if r.name == "socketsvc.handlers")
    assert f"namespace={NS} event=boom" in record.getMessage()
    assert f"sid={client.get_sid(NS)}" in record.getMessage()
    assert record.exc_info is not None
    assert await call(client, "echo", "still open") == "still open"


async def test_application_errors_carry_their_code(connect: Connect) -> None:
    client = await connect([NS])
    assert await call(client, "refuse") == {
        "error": {"code": "custom_code", "message": "refused by the application"}
    }


@pytest.mark.parametrize(
    "event",
    [
        "_private",
        "helper_that_is_not_an_event",
        "connect",
        "disconnect",
        "on_echo",
        "join",
        "trigger_event",
        "dispatch",
        "__init__",
        "emit",
    ],
)
async def test_only_event_handlers_can_be_dispatched(connect: Connect, event: str) -> None:
    client = await connect([NS])
    reply = await call(client, event)
    assert reply["error"]["code"] == "unknown_event"
    assert await call(client, "echo", 1) == 1


async def test_rooms_join_leave_members_and_broadcast(connect: Connect) -> None:
    alice, bob, carol = await connect([NS]), await connect([NS]), await connect([NS])
    shouts = {c: Inbox(c, "shout", NS) for c in (alice, bob, carol)}
    await call(alice, "enter", "r")
    members = await call(bob, "enter", "r")
    assert sorted(members) == sorted([alice.get_sid(NS), bob.get_sid(NS)])
    await call(alice, "shout", "r", "without me")
    assert await shouts[bob].get() == {"text": "without me"}
    await call(alice, "shout", "r", "with me", True)
    # The first shout alice gets is the one she asked for: the skipped one never came.
    assert await shouts[alice].get() == {"text": "with me"}
    assert await shouts[bob].get() == {"text": "with me"}
    assert await call(bob, "exit", "never entered") == ["r"]  # leaving it changes nothing
    assert await call(bob, "exit", "r") == []
    await call(alice, "shout", "r", "bob left", True)
    assert await shouts[alice].get() == {"text": "bob left"}
    await call(carol, "enter", "r")
    await call(alice, "shout", "r", "carol came", True)
    assert await shouts[carol].get() == {"text": "carol came"}  # nothing before she entered
    await call(bob, "enter", "elsewhere")
    await call(bob, "shout", "elsewhere", "marker", True)
    assert await shouts[bob].get() == {"text": "marker"}  # nothing of r after he left


async def test_emit_to_a_list_of_rooms_reaches_each_member_once_and_skips_the_sender(
    connect: Connect,
) -> None:
    alice, bob, carol, dave = [await connect([NS]) for _ in range(4)]
    shouts = {c: Inbox(c, "shout", NS) for c in (alice, bob, carol, dave)}
    for client, rooms in ((alice, "ab"), (bob, "ab"), (carol, "b"), (dave, "c")):
        for room in rooms:
            await call(client, "enter", room)
    await call(alice, "shout", ["a", "b"], "to a and b")
    assert await shouts[bob].get() == {"text": "to a and b"}
    assert await shouts[carol].get() == {"text": "to a and b"}
    await call(alice, "shout", ["a", "b", "c"], "with me", True)
    # Everyone's next shout is this one: no duplicate for bob (in a and b), nothing earlier
    # for alice (skipped, then in two rooms) or dave (not in a or b).
    for client in (alice, bob, carol, dave):
        assert await shouts[client].get() == {"text": "with me"}
    await call(alice, "shout", ["c"], "marker", True)
    assert await shouts[dave].get() == {"text": "marker"}
    await call(alice, "shout", ["a"], "only a", True)
    assert await shouts[alice].get() == {"text": "only a"}  # "with me" reached her once


async def test_another_clients_sid_room_cannot_be_joined(connect: Connect) -> None:
    alice, mallory = await connect([NS]), await connect([NS])
    reply = await call(mallory, "enter", alice.get_sid(NS))
    assert reply["error"]["code"] == "forbidden"


async def test_disconnect_removes_from_rooms_and_empty_rooms_disappear(
    connect: Connect, server
) -> None:  # type: ignore[no-untyped-def]
    from socketsvc.app.factory import SIO

    rooms = server.app[SIO].manager.rooms
    alice, bob = await connect([NS]), await connect([NS])
    await call(alice, "enter", "gone-soon")
    await call(bob, "enter", "gone-soon")
    alice_sid = alice.get_sid(NS)
    await alice.disconnect()
    # The server handles alice's DISCONNECT concurrently with bob's next event.
    await eventually(lambda: not server.app[SIO].manager.is_connected(alice_sid, NS))
    assert await call(bob, "enter", "gone-soon") == [bob.get_sid(NS)]
    await call(bob, "exit", "gone-soon")
    assert "gone-soon" not in rooms.get(NS, {})
    # The manager's per-client room index forgets a client with its last room.
    memberships = server.app[SIO].manager._memberships
    assert all(sid != alice_sid for _, sid in memberships)
    assert list(memberships[(NS, bob.get_sid(NS))]) == [None, bob.get_sid(NS)]


async def test_server_to_client_call_returns_the_ack(connect: Connect) -> None:
    client = await connect([NS])

    async def question(data: object) -> object:
        return {"got": data}

    client.on("question", question, namespace=NS)
    assert await call(client, "ask", 2.0) == {"answer": {"got": {"q": 1}}}


async def test_server_to_client_call_timeout_reaches_handler(connect: Connect) -> None:
    client = await connect([NS])
    release = asyncio.Event()

    async def answers_late(data: object) -> str:
        await release.wait()
        return "too late"

    client.on("question", answers_late, namespace=NS)
    reply = await call(client, "ask", 0.2)
    release.set()
    assert reply == {
        "caught": "ack_timeout",
        "message": "client did not acknowledge 'question' within 0.2s",
    }
    assert await call(client, "echo", "still served") == "still served"


async def test_binary_payloads_round_trip(connect: Connect) -> None:
    client = await connect([NS])
    blob = bytes(range(256)) * 4
    reply = await call(client, "bytes", blob)
    assert reply == {"size": 1024, "reversed": blob[::-1]}
    reply = await call(client, "bytes", "not bytes")
    assert reply["error"]["code"] == "invalid_payload"


async def test_auth_payload_reaches_connect_handler(connect: Connect) -> None:
    client = await connect([NS], auth={"token": "abc", "n": 1})
    assert await call(client, "auth") == {"token": "abc", "n": 1}
    plain = await connect([NS])
    assert await call(plain, "auth") == {}


async def refused(connect: Connect, namespace: str, auth: object = None) -> object:
    """Connect expecting a refusal; returns the connect_error data the server sent."""
    seen: list[object] = []
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect([namespace], auth=auth, connect_errors=seen)
    assert len(seen) == 1
    return seen[0]


@pytest.mark.logs_tracebacks
async def test_connect_refusal_and_crash_become_connect_errors(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    assert await refused(connect, NS, {"refuse": True}) == {
        "message": "go away",
        "data": {"code": "refused"},
    }
    assert await refused(connect, NS, {"crash": True}) == {
        "message": "Internal server error",
        "data": {"code": "internal"},
    }
    assert "connect handler failed" in caplog.text
    assert "connect handler bug" not in str(await refused(connect, NS, {"crash": True}))


async def test_connect_handler_returning_false_is_refused_with_a_message(connect: Connect) -> None:
    # {message}: the JS client shows packet.data.message; a bare string reads as no message
    assert await refused(connect, NS, {"reject": True}) == {
        "message": "Connection rejected by server"
    }
    assert await call(await connect([NS]), "echo", "next one served") == "next one served"


async def test_unknown_namespace_is_refused_with_invalid_namespace(connect: Connect) -> None:
    assert await refused(connect, "/nowhere") == {"message": "Invalid namespace"}


async def test_the_main_namespace_accepts_clients_without_a_handler(connect: Connect) -> None:
    # As in Node, "/" always exists: a stock client's io(url) connects there.
    client = await connect(["/", NS])
    assert client.get_sid("/") not in (None, client.get_sid(NS))
    assert await call(client, "echo", ns="/") == {
        "error": {"code": "unknown_event", "message": "no handlers in namespace /"}
    }
    assert await call(client, "echo", "other namespaces unaffected") == (
        "other namespaces unaffected"
    )


async def test_pattern_namespace_serves_each_concrete_namespace(connect: Connect, server) -> None:  # type: ignore[no-untyped-def]
    from socketsvc.app.factory import SIO

    client = await connect(["/workspace/alpha", "/workspace/beta"])
    assert await call(client, "where", ns="/workspace/alpha") == "/workspace/alpha"
    assert await call(client, "where", ns="/workspace/beta") == "/workspace/beta"
    assert await refused(connect, "/workspace/a/b") == {"message": "Invalid namespace"}
    assert await refused(connect, "/workspace") == {"message": "Invalid namespace"}
    await client.disconnect()
    handlers = server.app[SIO].namespace_handlers
    await eventually(lambda: not {"/workspace/alpha", "/workspace/beta"} & set(handlers))


async def test_server_side_disconnect_reaches_client(connect: Connect) -> None:
    client = await connect([NS, "/chat"])
    reasons: list[str] = []

    async def on_disconnect(reason: str = "") -> None:
        reasons.append(reason)

    client.on("disconnect", on_disconnect, namespace=NS)
    await client.emit("kick", namespace=NS)
    await eventually(lambda: bool(reasons))
    assert reasons == [client.reason.SERVER_DISCONNECT]
    assert list(client.namespaces) == ["/chat"]
    # Only /test was disconnected: /chat, on the same connection, is still served.
    reply = await client.call("join", {"room": "x", "name": "n"}, namespace="/chat", timeout=5)
    assert reply == {"room": "x", "members": ["n"]}
