"""Return values and emits: what a handler may send, and what happens when it cannot be sent."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import Connect, Inbox

NS = "/returns"
INTERNAL = {"error": {"code": "internal", "message": "internal server error"}}


async def test_a_returned_dataclass_arrives_as_its_fields(connect: Connect) -> None:
    client = await connect([NS])
    assert await client.call("dataclass", namespace=NS, timeout=5) == {
        "row": 1,
        "col": 2,
        "blob": b"",
    }
    assert await client.call("nested", namespace=NS, timeout=5) == {
        "cells": [{"row": 1, "col": 2, "blob": b"\x00\xff"}, {"row": 3, "col": 4, "blob": b""}],
        "first": {"row": 0, "col": 0, "blob": b""},
    }


async def test_none_acks_without_arguments_and_a_tuple_is_several(connect: Connect) -> None:
    client = await connect([NS])
    seen: list[tuple[object, ...]] = []
    done = Inbox(client, "done", NS)  # unused event: only to have a queue to wait on

    async def ack(*args: object) -> None:
        seen.append(args)
        await done.queue.put(None)

    await client.emit("nothing", namespace=NS, callback=ack)
    await client.emit("several", namespace=NS, callback=ack)
    await done.get()
    await done.get()
    assert seen == [(), ("a", {"row": 5, "col": 6, "blob": b""})]


async def test_an_emitted_dataclass_arrives_as_its_fields(connect: Connect) -> None:
    client = await connect([NS])
    cells = Inbox(client, "cell", NS)
    assert await client.call("emit_cell", namespace=NS, timeout=5) == "emitted"
    assert await cells.get() == {"row": 7, "col": 8, "blob": b""}


ENUMS_AND_UUID = {
    "color": "red",
    "level": 3,
    "pair": [0, 0],
    "id": "12345678-1234-5678-1234-567812345678",
    "list": ["red", {"row": 1, "col": 2, "blob": b""}],
}


async def test_enum_members_go_as_their_value_and_uuids_as_strings(connect: Connect) -> None:
    # Every wire format carries the same values (JSON through orjson, msgpack through its
    # packer): a plain Enum as its value, as handlers read Enum parameters by value.
    client = await connect([NS])
    assert await client.call("enums", namespace=NS, timeout=5) == ENUMS_AND_UUID
    emitted = Inbox(client, "enums", NS)
    assert await client.call("emit_enums", namespace=NS, timeout=5) == "emitted"
    assert await emitted.get() == ENUMS_AND_UUID


@pytest.mark.parametrize("event, cause", [("a_set", "a set"), ("an_object", "an object")])
async def test_an_unsendable_return_value_is_a_handler_bug_logged_once(
    connect: Connect, caplog: pytest.LogCaptureFixture, event: str, cause: str
) -> None:
    client = await connect([NS])
    with caplog.at_level(logging.DEBUG, logger="socketsvc.handlers"):
        for _ in range(3):
            assert await client.call(event, namespace=NS, timeout=5) == INTERNAL
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    message = errors[0].getMessage()
    assert f"ReturnsNamespace.on_{event}" in message and f"{cause} cannot be sent" in message
    assert f"(sid={client.get_sid(NS)} namespace={NS} event={event})" in message
    assert "Traceback" not in caplog.text
    assert (await client.call("dataclass", namespace=NS, timeout=5))["row"] == 1


async def test_one_event_returning_two_unsendable_types_is_logged_once_per_type(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    client = await connect([NS])
    with caplog.at_level(logging.DEBUG, logger="socketsvc.handlers"):
        for kind in ("set", "object", "set", "object"):
            assert await client.call("either", kind, namespace=NS, timeout=5) == INTERNAL
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2, errors
    assert "a set cannot be sent" in errors[0] and "an object cannot be sent" in errors[1]


async def test_an_unsendable_emit_is_a_handler_bug_and_nothing_is_sent(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    client = await connect([NS])
    tags, cells = Inbox(client, "tags", NS), Inbox(client, "cell", NS)
    with caplog.at_level(logging.DEBUG, logger="socketsvc.handlers"):
        for _ in range(2):
            assert await client.call("emit_set", namespace=NS, timeout=5) == INTERNAL
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "on_emit_set" in errors[0].getMessage()
    assert await client.call("emit_cell", namespace=NS, timeout=5) == "emitted"
    # sent after the refused ones, so they would have come first
    assert await cells.get() == {"row": 7, "col": 8, "blob": b""}
    assert tags.so_far() == []
