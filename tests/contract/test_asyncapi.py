"""``socketsvc contract --format asyncapi``: the document parses with the reference
``@asyncapi/parser`` without errors or warnings, carries every constraint (enum, bounds,
pattern, lengths), the ack reply and the JWT auth; and its payload schemas accept and refuse
what the server's own validators accept and refuse."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from socketsvc.errors import InvalidPayload, SocketsvcError
from socketsvc.handlers import BaseNamespace, ChatNamespace
from tests.contract.auction import AuctionNamespace
from tests.contract.conftest import HERE, contract_cli

JWT = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


def prepare(directory: Path, node_modules: Path, document: str, samples: Any) -> list[str]:
    """A directory with the parse script, the document and the samples; the script's args."""
    directory.mkdir()
    (directory / "node_modules").symlink_to(node_modules, target_is_directory=True)
    script = directory / "parse_asyncapi.mjs"
    script.write_text((HERE / "parse_asyncapi.mjs").read_text())
    (directory / "asyncapi.json").write_text(document)
    args = [str(script), str(directory / "asyncapi.json")]
    if samples is not None:
        (directory / "samples.json").write_text(json.dumps(samples))
        args.append(str(directory / "samples.json"))
    return args


async def parse(
    node: str, node_modules: Path, directory: Path, document: str, samples: Any = None
) -> dict[str, Any]:
    """The report of tests/contract/parse_asyncapi.mjs on ``document``."""
    args = prepare(directory, node_modules, document, samples)
    proc = await asyncio.create_subprocess_exec(
        node, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    report: dict[str, Any] = json.loads(out)
    return report


@pytest.fixture
async def document(auction_config: Path) -> str:
    code, out = await contract_cli("--config", str(auction_config), "--format", "asyncapi")
    assert code == 0, out
    return out


def problems(report: dict[str, Any]) -> list[Any]:
    """Errors and warnings (not the note that AsyncAPI 3.1 exists: 3.0 is asked for)."""
    return [d for d in report["diagnostics"] if d["severity"] in ("error", "warning")]


def subset(actual: Any, expected: Any) -> bool:
    """``expected`` is in ``actual`` (maps: key by key; lists: item by item)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and subset(actual[k], v) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(subset(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return bool(actual == expected)


async def test_the_document_is_valid_and_carries_every_constraint(
    document: str, node: str, node_modules: Path, tmp_path: Path
) -> None:
    report = await parse(node, node_modules, tmp_path / "parse", document)
    assert not problems(report), report["diagnostics"]
    assert report["channels"]["auction"]["address"] == "/auction"
    assert report["channels"]["chat"]["address"] == "/chat"

    bid = report["operations"]["auction.receive.bid"]
    assert bid["action"] == "receive" and bid["channels"] == ["/auction"]
    (message,) = bid["messages"]
    assert message["name"] == "bid"
    assert subset(
        message["payload"],
        {
            "type": "object",
            "required": ["lot", "amount", "currency"],
            "properties": {
                "lot": {"type": "string", "pattern": "^(?:[A-Z]{3}-[0-9]{4})$"},
                "amount": {"type": "integer", "exclusiveMinimum": 0, "maximum": 1_000_000},
                "currency": {"enum": ["EUR", "USD"]},
                "note": {
                    "anyOf": [
                        {"type": "string", "minLength": 1, "maxLength": 140},
                        {"type": "null"},
                    ]
                },
                "tags": {
                    "anyOf": [
                        {"type": "array", "maxItems": 3, "items": {"type": "string"}},
                        {"type": "null"},
                    ]
                },
                "quantity": {"type": "integer", "minimum": 1},
            },
        },
    ), message["payload"]
    assert "An offer for a lot." in message["payload"]["description"]  # the class docstring
    # the ack, or the error reply
    ack, error = bid["reply"]
    assert ack["name"] == "bid.ack" and error["name"] == "error"
    assert subset(
        ack["payload"],
        {
            "required": ["lot", "amount", "currency", "leading"],
            "properties": {"leading": {"type": "boolean"}, "previous": {"type": "integer"}},
        },
    ), ack["payload"]
    assert subset(error["payload"], {"required": ["error"]})
    # the namespace requires a JWT (in the CONNECT auth payload, which the description says)
    assert (
        subset(bid["security"], [[JWT]]) and "auth payload" in bid["security"][0][0]["description"]
    )

    watch = report["operations"]["auction.receive.watch"]["messages"][0]["payload"]
    assert subset(
        watch,
        {
            "type": "array",
            "minItems": 1,
            "maxItems": 2,
            "items": [{"pattern": "^(?:[A-Z]{3}-[0-9]{4})$"}, {"enum": ["slow", "live"]}],
        },
    ), watch

    outbid = report["operations"]["auction.send.outbid"]
    assert outbid["action"] == "send" and outbid["reply"] is None
    assert subset(
        outbid["messages"][0]["payload"],
        {
            "required": ["lot", "amount", "currency"],
            "properties": {"currency": {"enum": ["EUR", "USD"]}},
        },
    )
    closing = report["operations"]["auction.send.closing"]["messages"][0]["payload"]
    assert subset(closing, {"items": [{"type": "string"}, {"type": "integer"}], "minItems": 2})

    join = report["operations"]["chat.receive.join"]
    assert join["security"] == []  # /chat: no auth by default
    assert subset(
        join["messages"][0]["payload"],
        {
            "properties": {
                "room": {"minLength": 1, "maxLength": 64, "pattern": "^(?:[^\\x00-\\x1f]+)$"}
            }
        },
    )
    assert "message" in report["operations"]["chat.send.message"]["messages"][0]["name"]


# (operation, arguments as sent): the schemas must agree with the validators on each.
LOT = "ABC-0001"
BID = {"lot": LOT, "amount": 100, "currency": "EUR"}
SAMPLES: list[tuple[str, list[Any]]] = [
    ("auction.receive.bid", [BID]),
    ("auction.receive.bid", [{**BID, "note": "hello", "tags": ["a", "b", "c"], "extra": 1}]),
    ("auction.receive.bid", [{**BID, "note": None, "tags": None}]),
    ("auction.receive.bid", [{**BID, "lot": "abc-0001"}]),
    ("auction.receive.bid", [{**BID, "lot": "ABC-00011"}]),
    ("auction.receive.bid", [{**BID, "lot": "xABC-0001"}]),
    ("auction.receive.bid", [{**BID, "amount": 0}]),
    ("auction.receive.bid", [{**BID, "amount": 1_000_000}]),
    ("auction.receive.bid", [{**BID, "amount": 1_000_001}]),
    ("auction.receive.bid", [{**BID, "amount": -5}]),
    ("auction.receive.bid", [{**BID, "amount": 1.5}]),
    ("auction.receive.bid", [{**BID, "amount": "100"}]),
    ("auction.receive.bid", [{**BID, "amount": True}]),
    ("auction.receive.bid", [{**BID, "amount": None}]),
    ("auction.receive.bid", [{**BID, "currency": "GBP"}]),
    ("auction.receive.bid", [{"lot": LOT, "amount": 100}]),
    ("auction.receive.bid", [{**BID, "note": ""}]),
    ("auction.receive.bid", [{**BID, "note": "x" * 140}]),
    ("auction.receive.bid", [{**BID, "note": "x" * 141}]),
    ("auction.receive.bid", [{**BID, "tags": ["a", "b", "c", "d"]}]),
    ("auction.receive.bid", [{**BID, "tags": [1]}]),
    ("auction.receive.bid", [{**BID, "quantity": 2}]),
    ("auction.receive.bid", [{**BID, "quantity": 0}]),
    # null for a field with a default: the server takes the default, the contract does not
    # offer it (the annotation says optional, not nullable); the one known difference
    ("auction.receive.bid", [{**BID, "quantity": None}]),
    ("auction.receive.bid", [[BID]]),
    ("auction.receive.bid", ["bid"]),
    ("auction.receive.watch", [LOT]),
    ("auction.receive.watch", [LOT, "live"]),
    ("auction.receive.watch", [LOT, "fast"]),
    ("auction.receive.watch", [LOT, "live", "extra"]),
    ("auction.receive.watch", []),
    ("auction.receive.watch", ["lot"]),
    ("chat.receive.join", [{"room": "lobby", "name": "ada", "history": 10}]),
    ("chat.receive.join", [{"room": "lobby"}]),
    ("chat.receive.join", [{"room": "lobby", "name": None, "history": None}]),
    ("chat.receive.join", [{"room": ""}]),
    ("chat.receive.join", [{"room": "x" * 65}]),
    ("chat.receive.join", [{"room": "lob\x01by"}]),
    ("chat.receive.join", [{"room": "lobby", "name": "x" * 33}]),
    ("chat.receive.join", [{"room": "lobby", "history": "10"}]),
    ("chat.receive.message", [{"room": "lobby", "text": "hi", "client_id": "c-1"}]),
    ("chat.receive.message", [{"room": "lobby", "text": ""}]),
    ("chat.receive.message", [{"room": "lobby", "text": "x" * 4001}]),
    ("chat.receive.message", [{"room": "lobby", "text": "hi", "client_id": ""}]),
    ("chat.receive.typing", [{"room": "lobby"}]),
    ("chat.receive.typing", [{}]),
]
HANDLERS: dict[str, type[BaseNamespace]] = {"auction": AuctionNamespace, "chat": ChatNamespace}


def accepted_by_the_server(operation: str, args: list[Any]) -> bool:
    """What the server's dispatch decides before the handler runs: the number of arguments,
    then the compiled validators."""
    channel, _, event = operation.split(".")
    handler = HANDLERS[channel]
    handler.prepare()
    spec = handler._specs[event]  # type: ignore[index]
    if not spec.least <= len(args) <= spec.most:
        return False
    try:
        if spec.parse is not None:
            spec.parse(tuple(args))
    except (InvalidPayload, SocketsvcError):
        return False
    return True


async def test_the_payload_schemas_accept_what_the_server_accepts(
    document: str, node: str, node_modules: Path, tmp_path: Path
) -> None:
    # An event with one argument has that argument as its payload; several: an array.
    samples = [
        {"operation": op, "payload": args[0] if len(args) == 1 and "watch" not in op else args}
        for op, args in SAMPLES
    ]
    report = await parse(node, node_modules, tmp_path / "agree", document, samples)
    expected = [accepted_by_the_server(op, args) for op, args in SAMPLES]
    assert True in expected and False in expected
    disagree = [
        (op, args, f"server accepts: {server}", f"schema accepts: {schema}")
        for (op, args), server, schema in zip(SAMPLES, expected, report["verdicts"], strict=True)
        if server != schema
    ]
    null_for_a_default = ("auction.receive.bid", [{**BID, "quantity": None}])
    assert disagree == [(*null_for_a_default, "server accepts: True", "schema accepts: False")]
