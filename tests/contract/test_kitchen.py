"""Every kind of annotation at once (tests/contract/kitchen.py), on a fixed and a pattern
namespace: the TypeScript compiles under ``tsc --strict`` with a client using it, and the
AsyncAPI document parses without errors or warnings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract.conftest import contract_cli, errors, ts_project, tsc
from tests.contract.test_asyncapi import parse, problems, subset

CLIENT = """\
import { io, type Socket } from "socket.io-client";
import type {
  KitchenClientToServerEvents as Up,
  KitchenServerToClientEvents as Down,
  KitchenWildcardClientToServerEvents as PatternUp,
  KitchenWildcardServerToClientEvents as PatternDown,
  Node,
  NodeOutput,
} from "./contract.js";

const kitchen: Socket<Down, Up> = io("/kitchen");
const pattern: Socket<PatternDown, PatternUp> = io("/kitchen/blue");
const root: Node = { name: "root", children: [{ name: "leaf" }] };
kitchen.emit("grow", root, (reply) => ("error" in reply ? reply.error.code : reply.children));
kitchen.emit("grow", root, 3, (reply) => reply);
kitchen.emit("item", { label: "x" }, (reply) => ("error" in reply ? 0 : reply.count + 1));
kitchen.emit("blob", new Uint8Array([1, 2]), (reply) => reply);
kitchen.emit("pair", 1, "two", (...reply) => reply.length);
kitchen.emit("spread", 1, 2, 3, (...reply: number[] | [unknown]) => reply.length);
kitchen.emit("even", 4);
kitchen.emit("even", 4, (error) => error?.error.message);
kitchen.emit("order:created", true, (reply) => reply);
kitchen.emit("maps", { a: [1, 2] }, ["x", 1.5], (reply) => reply);
kitchen.emit("paint", "red", (...reply) => (reply.length === 2 ? reply[1].toUpperCase() : reply));
kitchen.on("tree", (tree: NodeOutput) => tree.children.map((c) => c.name));
kitchen.on("triple:sent", (n, s, b) => [n + 1, s.length, !b]);
kitchen.on("maybe", (...args) => args[0]?.large);
kitchen.on("nothing", () => undefined);
pattern.emit("with-dash", (reply) => reply);
const answer = await kitchen.timeout(1000).emitWithAck("same", { x: 1 });
if (!("error" in answer)) answer.x.toFixed();
"""


@pytest.fixture
async def kitchen_config(tmp_path: Path) -> Path:
    config = tmp_path / "kitchen.toml"
    config.write_text(
        "[namespaces]\n"
        '"/kitchen" = "tests.contract.kitchen:KitchenNamespace"\n'
        '"/kitchen/*" = "tests.contract.kitchen:KitchenNamespace"\n'
    )
    return config


async def test_every_kind_of_annotation_compiles(
    kitchen_config: Path, node_modules: Path, tmp_path: Path
) -> None:
    code, contract = await contract_cli("--config", str(kitchen_config), "--format", "typescript")
    assert code == 0, contract
    project = ts_project(
        tmp_path / "ts", node_modules, {"contract.ts": contract, "client.ts": CLIENT}
    )
    code, out = await tsc(project, "--noEmit")
    assert code == 0 and not errors(out), out
    # a recursive type; a dataclass read both ways with defaults: two types, one both ways: one
    assert "  children?: Node[];" in contract and "  children: NodeOutput[];" in contract
    assert "export interface ItemOutput {" in contract and "SameOutput" not in contract
    # two classes named Req: both qualified by module
    assert "export interface TestsContractKitchenReq {" in contract
    assert "export interface TestsContractOtherReq {" in contract
    # a parameter named like a TypeScript keyword; a parameter named ack
    assert "  pair: (new_: number, delete_: string," in contract
    assert "  anything: (ack: unknown, callback: (reply: unknown) => void) => void;" in contract
    assert "/** `n`: a multiple of 4, satisfies is_even (checked by the server). */" in contract
    assert "export type Binary = ArrayBuffer | ArrayBufferView;" in contract
    assert "export type Level = 1 | 2;" in contract
    # an Enum goes as its value, a UUID as its string
    assert 'export type Colour = "red" | "blue";' in contract
    assert (
        "  paint: (colour: Colour, ack: (...reply: [Colour, string] | [ErrorAck]) => void)"
        in contract
    )


async def test_every_kind_of_annotation_makes_a_valid_asyncapi_document(
    kitchen_config: Path, node: str, node_modules: Path, tmp_path: Path
) -> None:
    code, document = await contract_cli("--config", str(kitchen_config), "--format", "asyncapi")
    assert code == 0, document
    report = await parse(node, node_modules, tmp_path / "parse", document)
    assert not problems(report), report["diagnostics"]
    assert report["channels"]["kitchenWildcard"]["address"] == "/kitchen/{name}"
    assert report["channels"]["kitchenWildcard"]["parameters"] == ["name"]
    even = report["operations"]["kitchen.receive.even"]["messages"][0]["payload"]
    assert subset(even, {"type": "integer", "multipleOf": 4}), even
    assert "satisfies is_even" in even["description"]
    blob = report["operations"]["kitchen.receive.blob"]["messages"][0]["payload"]
    assert (
        subset(blob, {"type": "string", "format": "binary"})
        and "1..1024 bytes" in blob["description"]
    )
    spread = report["operations"]["kitchen.receive.spread"]["messages"][0]["payload"]
    assert subset(spread, {"type": "array", "items": {"type": "integer"}}), spread
    grow = report["operations"]["kitchen.receive.grow"]["messages"][0]["payload"]
    assert subset(grow, {"minItems": 1, "maxItems": 2}), grow
    assert subset(grow["items"][1], {"type": "integer", "minimum": 0, "exclusiveMaximum": 8})
    assert grow["items"][0]["properties"]["children"]["items"] == "[cycle]"  # recursive
    paint = report["operations"]["kitchen.receive.paint"]["reply"][0]["payload"]
    assert subset(
        paint, {"items": [{"enum": ["red", "blue"]}, {"type": "string", "format": "uuid"}]}
    )
