"""Decimal, TypedDict, pydantic and msgspec payloads, both ways, with python-socketio clients
on both parsers: what a handler receives, what clients get back, and the field path an
invalid payload's error names."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from tests.conftest import Connect, Inbox, StartServer

NS = "/pay"


@pytest.fixture
async def server(start_server: StartServer, serializer: str) -> TestServer:
    handlers = {NS: "tests.handlers.payloads:PaymentsNamespace"}
    return await start_server(serializer=serializer, namespaces=handlers)


@pytest.fixture
def transport() -> str:
    return "websocket"


def refused(field: str, problem: str) -> dict[str, Any]:
    return {"error": {"code": "invalid_payload", "message": f"'{field}' {problem}"}}


@pytest.mark.parametrize(
    "sent, amount",
    [("12.50", "12.50"), (12.5, "12.5"), (3, "3"), ("0.1", "0.1"), (0.1, "0.1"), ("-1e3", "-1E+3")],
)
async def test_a_decimal_comes_from_a_number_or_a_string_and_goes_as_a_string(
    connect: Connect, sent: object, amount: str
) -> None:
    client = await connect([NS])
    reply = await client.call("price", sent, namespace=NS, timeout=5)
    doubled = str(2 * __import__("decimal").Decimal(amount))
    assert reply == {"amount": amount, "type": "Decimal", "doubled": doubled}


@pytest.mark.parametrize("sent", ["12,50", "abc", "NaN", "Infinity", "", True, None, "1e99999"])
async def test_what_is_no_decimal_number_is_refused(connect: Connect, sent: object) -> None:
    client = await connect([NS])
    reply = await client.call("price", sent, namespace=NS, timeout=5)
    assert reply["error"]["code"] == "invalid_payload", reply


BASKET = {"price": {"amount": "9.99", "currency": "EUR"}, "items": ["a"], "extra": 1}


async def test_a_typed_dict_keeps_its_declared_keys(connect: Connect) -> None:
    client = await connect([NS])
    reply = await client.call("basket", BASKET, namespace=NS, timeout=5)
    assert reply == {"price": {"amount": "9.99", "currency": "EUR"}, "items": ["a"]}
    with_note = {**BASKET, "price": {"amount": 1, "currency": "USD", "note": None}}
    reply = await client.call("basket", with_note, namespace=NS, timeout=5)
    assert reply["price"] == {"amount": "1", "currency": "USD", "note": None}


@pytest.mark.parametrize(
    "price, field, problem",
    [
        ({"amount": "0", "currency": "EUR"}, "price.amount", "must be > 0 (got 0)"),
        ({"amount": "1.001", "currency": "EUR"}, "price.amount", "must be a multiple of 0.01"),
        ({"amount": "x", "currency": "EUR"}, "price.amount", "must be a decimal number"),
        ({"amount": "1"}, "price.currency", "is required"),
        ({"amount": "1", "currency": "EURO"}, "price.currency", "must have length 3..3 (got 4)"),
    ],
)
async def test_a_typed_dict_error_names_the_field_path(
    connect: Connect, price: dict[str, Any], field: str, problem: str
) -> None:
    client = await connect([NS])
    reply = await client.call("basket", {"price": price, "items": []}, namespace=NS, timeout=5)
    message = reply["error"]["message"]
    assert reply["error"]["code"] == "invalid_payload"
    assert message.startswith(f"'{field}' {problem}"), message


async def test_a_pydantic_model_is_validated_by_pydantic_and_sent_as_its_fields(
    connect: Connect,
) -> None:
    client = await connect([NS])
    orders = Inbox(client, "order", NS)
    order = {"bid": {"amount": "12.50", "lot": "A-1"}}
    expected = {"bid": {"amount": "12.50", "lot": "A-1"}, "quantity": 1}
    assert await client.call("pydantic", order, namespace=NS, timeout=5) == expected
    assert await orders.get() == expected
    bad = {"bid": {"amount": "-1", "lot": "A-1"}}
    reply = await client.call("pydantic", bad, namespace=NS, timeout=5)
    assert reply == refused("bid.amount", "input should be greater than 0")
    reply = await client.call("pydantic", {"bid": {"amount": 1}}, namespace=NS, timeout=5)
    assert reply == refused("bid.lot", "field required")
    reply = await client.call("pydantic", "nope", namespace=NS, timeout=5)
    assert reply["error"]["message"] == "payload must be an object"


async def test_a_msgspec_struct_is_validated_by_msgspec_and_sent_as_its_fields(
    connect: Connect,
) -> None:
    client = await connect([NS])
    order = {"bid": {"amount": 3, "lot": "A-1"}, "tags": ["x"]}
    assert await client.call("msgspec", order, namespace=NS, timeout=5) == order
    bad = {"bid": {"amount": 0, "lot": "A-1"}}
    reply = await client.call("msgspec", bad, namespace=NS, timeout=5)
    assert reply == refused("bid.amount", "expected `int` >= 1")
    bad = {"bid": {"amount": 1, "lot": "A-1"}, "tags": ["x", 2]}
    reply = await client.call("msgspec", bad, namespace=NS, timeout=5)
    assert reply == refused("tags[1]", "expected `str`, got `int`")


def test_the_contract_shows_the_new_payload_types() -> None:
    import json

    from socketsvc.config import Settings
    from socketsvc.contract import render

    settings = Settings(namespaces={NS: "tests.handlers.payloads:PaymentsNamespace"})
    typescript = render(settings, "typescript")
    assert "price: (amount: number | string, ack:" in typescript  # a Decimal parameter
    assert "export interface Price {\n" in typescript  # a TypedDict, both ways
    assert "export interface PydanticOrder {\n" in typescript
    assert "export interface StructOrder {\n" in typescript
    assert "interface ChatClientToServerEvents" not in typescript  # own [namespaces]: no /chat
    document = json.loads(render(settings, "asyncapi"))
    schemas = document["components"]["schemas"]
    amount = schemas["Price"]["properties"]["amount"]
    assert amount["type"] == ["number", "string"] and amount["exclusiveMinimum"] == 0
    assert schemas["PydanticBidOutput"]["properties"]["amount"]["type"] == "string"
    assert schemas["PydanticOrder"]["required"] == ["bid"]  # quantity has a default
