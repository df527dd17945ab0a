"""The /chat wire contract, with python-socketio clients over both transports and serializers."""

from __future__ import annotations

import time

import aiohttp

from socketsvc.app.factory import SIO
from tests import raw_client
from tests.conftest import Connect, ConnectTo, Inbox, StartServer, eventually

CHAT = "/chat"


async def call(client, event, data):  # type: ignore[no-untyped-def]
    return await client.call(event, data, namespace=CHAT, timeout=5)


async def test_join_reports_members_and_tells_the_room(connect: Connect) -> None:
    alice, bob = await connect(), await connect()
    joined = Inbox(alice, "joined")
    assert await call(alice, "join", {"room": "lobby", "name": "alice"}) == {
        "room": "lobby",
        "members": ["alice"],
    }
    assert await call(bob, "join", {"room": "lobby", "name": "bob"}) == {
        "room": "lobby",
        "members": ["alice", "bob"],
    }
    assert await joined.get() == {"room": "lobby", "name": "bob"}


async def test_message_acks_id_and_time_and_reaches_others_only(connect: Connect) -> None:
    alice, bob = await connect(), await connect()
    to_alice, to_bob = Inbox(alice, "message"), Inbox(bob, "message")
    await call(alice, "join", {"room": "r", "name": "alice"})
    await call(bob, "join", {"room": "r", "name": "bob"})
    before = int(time.time() * 1000)
    ack = await call(alice, "message", {"room": "r", "text": "héllo ✓"})
    assert isinstance(ack["id"], str) and ack["id"]
    assert before <= ack["ts"] <= int(time.time() * 1000)
    assert await to_bob.get() == {
        "id": ack["id"],
        "room": "r",
        "name": "alice",
        "text": "héllo ✓",
        "ts": ack["ts"],
    }
    await call(bob, "message", {"room": "r", "text": "reply"})
    assert (await to_alice.get())["text"] == "reply"  # her own message never came back first


async def test_message_text_bounds_and_room_membership(connect: Connect) -> None:
    alice = await connect()
    await call(alice, "join", {"room": "r", "name": "alice"})
    assert (await call(alice, "message", {"room": "r", "text": "x" * 4000}))["id"]
    for text in ("", "x" * 4001):
        reply = await call(alice, "message", {"room": "r", "text": text})
        assert reply["error"]["code"] == "invalid_payload"
        assert "'text'" in reply["error"]["message"]
    reply = await call(alice, "message", {"room": "elsewhere", "text": "hi"})
    assert reply["error"]["code"] == "not_in_room"


async def test_leave_and_disconnect_tell_the_room(connect: Connect) -> None:
    alice, bob, carol = await connect(), await connect(), await connect()
    left = Inbox(alice, "left")
    for client, name in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
        await call(client, "join", {"room": "r", "name": name})
    assert await call(bob, "leave", {"room": "r"}) == {"room": "r"}
    assert await left.get() == {"room": "r", "name": "bob"}
    assert (await call(bob, "members", {"room": "r"}))["error"]["code"] == "not_in_room"
    await carol.disconnect()
    assert await left.get() == {"room": "r", "name": "carol"}
    assert await call(alice, "members", {"room": "r"}) == {"room": "r", "members": ["alice"]}


async def test_typing_reaches_others(connect: Connect) -> None:
    alice, bob = await connect(), await connect()
    typing = Inbox(bob, "typing")
    mine = Inbox(alice, "typing")
    await call(alice, "join", {"room": "r", "name": "alice"})
    await call(bob, "join", {"room": "r", "name": "bob"})
    await alice.emit("typing", {"room": "r"}, namespace=CHAT)
    assert await typing.get() == {"room": "r", "name": "alice"}
    await bob.emit("typing", {"room": "r"}, namespace=CHAT)
    assert await mine.get() == {"room": "r", "name": "bob"}  # alice's own was not echoed first


async def test_rooms_are_separate(connect: Connect) -> None:
    alice, bob, carol = await connect(), await connect(), await connect()
    to_bob, to_carol = Inbox(bob, "message"), Inbox(carol, "message")
    await call(alice, "join", {"room": "a", "name": "alice"})
    await call(bob, "join", {"room": "b", "name": "bob"})
    for room in ("a", "b"):
        await call(carol, "join", {"room": room, "name": "carol"})
    await call(alice, "message", {"room": "a", "text": "only a"})
    assert (await to_carol.get())["text"] == "only a"
    await call(carol, "message", {"room": "b", "text": "only b"})
    # The first message bob gets is room b's: room a's, sent before it, never reached him.
    got = await to_bob.get()
    assert (got["room"], got["name"], got["text"]) == ("b", "carol", "only b")


async def test_leave_stops_the_rooms_events(connect: Connect) -> None:
    alice, bob, carol = await connect(), await connect(), await connect()
    to_bob, to_carol = Inbox(bob, "message"), Inbox(carol, "message")
    typing_to_bob = Inbox(bob, "typing")
    for client, name in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
        await call(client, "join", {"room": "r", "name": name})
    for client, name in ((bob, "bob"), (carol, "carol")):
        await call(client, "join", {"room": "q", "name": name})
    assert await call(bob, "leave", {"room": "r"}) == {"room": "r"}
    await call(alice, "typing", {"room": "r"})
    await call(alice, "message", {"room": "r", "text": "after bob left"})
    assert (await to_carol.get())["text"] == "after bob left"
    await call(carol, "message", {"room": "q", "text": "in q"})
    # bob is still in q: its message arrives, and is the first: r's events no longer reach him.
    got = await to_bob.get()
    assert (got["room"], got["text"]) == ("q", "in q")
    assert typing_to_bob.so_far() == []
    assert (await call(bob, "message", {"room": "r", "text": "x"}))["error"]["code"] == (
        "not_in_room"
    )


async def test_joined_and_left_reach_the_room_only_and_never_the_leaver(connect: Connect) -> None:
    alice, bob, outsider = await connect(), await connect(), await connect()
    joined_out, left_out = Inbox(outsider, "joined"), Inbox(outsider, "left")
    left_bob = Inbox(bob, "left")
    await call(outsider, "join", {"room": "other", "name": "out"})
    for client, name in ((alice, "alice"), (bob, "bob")):
        await call(client, "join", {"room": "r", "name": name})
        await call(client, "join", {"room": "other", "name": name})
    # the outsider's first "joined" is alice's in "other": bob's and alice's in "r" never came
    assert await joined_out.get() == {"room": "other", "name": "alice"}
    assert await call(bob, "leave", {"room": "r"}) == {"room": "r"}
    await call(alice, "leave", {"room": "other"})
    assert await left_out.get() == {"room": "other", "name": "alice"}  # not bob's from "r"
    assert await left_bob.get() == {"room": "other", "name": "alice"}  # not his own
    assert await call(bob, "members", {"room": "r"}) == {
        "error": {"code": "not_in_room", "message": "join room 'r' first"}
    }


async def test_rejoining_a_room_is_not_announced_again(connect: Connect) -> None:
    alice, bob = await connect(), await connect()
    joined, to_alice = Inbox(alice, "joined"), Inbox(alice, "message")
    await call(alice, "join", {"room": "r", "name": "alice"})
    await call(bob, "join", {"room": "r", "name": "bob"})
    assert await joined.get() == {"room": "r", "name": "bob"}
    again = await call(bob, "join", {"room": "r", "name": "bob"})
    assert again == {"room": "r", "members": ["alice", "bob"]}
    await call(bob, "message", {"room": "r", "text": "still here"})
    assert (await to_alice.get())["text"] == "still here"
    assert joined.so_far() == []  # the re-join, sent before the message, announced nothing


async def test_join_validates_fields(connect: Connect) -> None:
    alice = await connect()
    reply = await call(alice, "join", {"room": "r"})
    assert reply["error"] == {"code": "invalid_payload", "message": "'name' is required"}
    reply = await call(alice, "join", {"room": 7, "name": "a"})
    assert reply["error"]["code"] == "invalid_payload" and "'room'" in reply["error"]["message"]
    reply = await call(alice, "join", ["r", "a"])
    assert reply["error"]["code"] == "invalid_payload"


async def test_unknown_event_answers_error(connect: Connect) -> None:
    alice = await connect()
    reply = await call(alice, "fly", {})
    assert reply["error"]["code"] == "unknown_event"


async def test_join_can_ask_for_the_rooms_latest_messages(connect: Connect) -> None:
    alice, carol = await connect(), await connect()
    await call(alice, "join", {"room": "h", "name": "alice"})
    acks = [await call(alice, "message", {"room": "h", "text": t}) for t in ("a", "b", "c")]
    reply = await call(carol, "join", {"room": "h", "name": "carol", "history": 2})
    assert reply["members"] == ["alice", "carol"]
    assert [(m["id"], m["text"], m["name"]) for m in reply["history"]] == [
        (acks[1]["id"], "b", "alice"),
        (acks[2]["id"], "c", "alice"),
    ]
    # without asking, no history in the ack
    assert "history" not in await call(carol, "join", {"room": "other", "name": "carol"})


async def test_a_retried_message_is_answered_with_its_first_ack_and_sent_once(
    connect: Connect,
) -> None:
    alice, bob = await connect(), await connect()
    to_bob = Inbox(bob, "message")
    await call(alice, "join", {"room": "r", "name": "alice"})
    await call(bob, "join", {"room": "r", "name": "bob"})
    first = await call(alice, "message", {"room": "r", "text": "once", "client_id": "m-1"})
    again = await call(alice, "message", {"room": "r", "text": "once", "client_id": "m-1"})
    other = await call(alice, "message", {"room": "r", "text": "twice", "client_id": "m-2"})
    assert again == first and other["id"] != first["id"]
    assert (await to_bob.get())["id"] == first["id"]
    assert (await to_bob.get())["id"] == other["id"]
    assert to_bob.so_far() == []  # the retry, sent between the two, never came
    # another sender's id is its own: the same client_id from bob is a new message
    mine = await call(bob, "message", {"room": "r", "text": "mine", "client_id": "m-1"})
    assert mine["id"] != first["id"]


async def test_a_member_who_drops_and_recovers_never_left(
    start_server: StartServer, connect_to: ConnectTo
) -> None:
    """Within the recovery window a dropped member stays in the room: no ``left`` when it
    drops, no ``joined`` when it comes back, still listed; past the window it has left."""
    srv = await start_server(namespace_recovery={CHAT: 1.0})
    watcher = await connect_to(srv)
    joined, left, said = Inbox(watcher, "joined"), Inbox(watcher, "left"), Inbox(watcher, "message")
    await call(watcher, "join", {"room": "r", "name": "w"})
    sio = srv.app[SIO]
    async with aiohttp.ClientSession() as http:
        ws, hello = await raw_client.join(http, srv, CHAT, None)
        await ws.send_str('42/chat,1["join",{"room":"r","name":"d"}]')
        assert (await joined.get())[0] == {"room": "r", "name": "d"}  # (data, offset)
        await ws.close()  # the transport drops: the member may come back
        await eventually(lambda: not sio.manager.is_connected(hello["sid"], CHAT))
        back, again = await raw_client.join(http, srv, CHAT, {"pid": hello["pid"]})
        assert again["sid"] == hello["sid"] and again["pid"] == hello["pid"]  # recovered
        await back.send_str('42/chat,2["message",{"room":"r","text":"still here"}]')
        assert (await said.get())[0]["text"] == "still here"
        assert joined.so_far() == [] and left.so_far() == []  # neither announced
        assert (await call(watcher, "members", {"room": "r"}))["members"] == ["w", "d"]
        await back.close()  # drops again, and this time does not come back
        gone = await left.get(timeout=5)  # after the 1 s window
        assert gone[0] == {"room": "r", "name": "d"}
        assert (await call(watcher, "members", {"room": "r"}))["members"] == ["w"]
