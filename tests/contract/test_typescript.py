"""``socketsvc contract --format typescript``: the generated types, compiled by the real
``tsc --strict`` with the npm socket.io-client, accept a correct client and reject wrong ones;
the correct one then runs against a real server and gets what its types promise."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import pytest

from tests.conftest import TEST_NAMESPACES, StartServer
from tests.contract.conftest import SECRET, contract_cli, errors, token, ts_project, tsc

CLIENT = """\
import { io, type Socket } from "socket.io-client";
import type {
  AuctionClientToServerEvents,
  AuctionServerToClientEvents,
  Bid,
  BidAccepted,
  ErrorAck,
} from "./contract.js";

type Auction = Socket<AuctionServerToClientEvents, AuctionClientToServerEvents>;
type Env = Record<string, string | undefined>;
const env: Env = (globalThis as unknown as { process: { env: Env } }).process.env;

function connect(token: string | undefined): Auction {
  return io(`${env["SOCKETSVC_URL"]}/auction`, { auth: { token }, transports: ["websocket"] });
}

function leading(reply: BidAccepted | ErrorAck): BidAccepted {
  if ("error" in reply) throw new Error(`${reply.error.code}: ${reply.error.message}`);
  return reply;
}

const log: string[] = [];
const ada = connect(env["TOKEN_ADA"]);
const bob = connect(env["TOKEN_BOB"]);
const outbid = new Promise<void>((resolve) =>
  ada.on("outbid", (news) => {
    log.push(`outbid ${news.lot} ${news.amount} ${news.currency}`);
    resolve();
  }),
);
const closing = new Promise<void>((resolve) =>
  bob.on("closing", (lot, seconds) => {
    log.push(`closing ${lot.toUpperCase()} ${seconds.toFixed(0)}`);
    resolve();
  }),
);

const bid: Bid = { lot: "ABC-0001", amount: 100, currency: "EUR" };
const first = leading(await ada.timeout(5000).emitWithAck("bid", bid));
log.push(`ada ${first.leading} ${first.previous ?? "-"}`);
const higher: Bid = { ...bid, amount: 150, currency: "USD", note: "mine" };
const second = leading(await bob.timeout(5000).emitWithAck("bid", higher));
log.push(`bob ${second.leading} ${second.previous ?? "-"} ${second.currency}`);
const refused = await bob.timeout(5000).emitWithAck("bid", { ...bid, lot: "abc-1" });
log.push("error" in refused ? `refused ${refused.error.code}` : "accepted?");
bob.emit("watch", "ABC-0001", "live", (error) => log.push(`watch ${error?.error.code ?? "ok"}`));
await Promise.all([outbid, closing]);
ada.disconnect();
bob.disconnect();
console.log(JSON.stringify(log));
"""

# Each a client with one mistake, and what tsc must say about it.
WRONG = {
    "currency": (
        'const bid: Bid = { lot: "ABC-0001", amount: 100, currency: "EUR" };',
        'const bid: Bid = { lot: "ABC-0001", amount: 100, currency: "GBP" };',
        r"error TS2322: Type '\"GBP\"' is not assignable to type '\"EUR\" \| \"USD\"'",
    ),
    "amount as a string": (
        "amount: 150,",
        'amount: "150",',
        r"error TS2322: Type 'string' is not assignable to type 'number'",
    ),
    "unknown event": (
        'bob.emit("watch", "ABC-0001"',
        'bob.emit("wtach", "ABC-0001"',
        r"error TS2345: Argument of type '\"wtach\"' is not assignable to parameter of type",
    ),
}


@pytest.fixture
async def contract_ts(auction_config: Path) -> str:
    code, out = await contract_cli("--config", str(auction_config), "--format", "typescript")
    assert code == 0, out
    return out


async def test_the_generated_types_compile_a_correct_client_that_then_works(
    contract_ts: str, node_modules: Path, node: str, tmp_path: Path, start_server: StartServer
) -> None:
    project = ts_project(
        tmp_path / "good", node_modules, {"contract.ts": contract_ts, "client.ts": CLIENT}
    )
    code, out = await tsc(project)
    assert code == 0 and not errors(out), out
    server = await start_server(
        namespaces={**TEST_NAMESPACES, "/auction": "tests.contract.auction:AuctionNamespace"},
        jwt_secret=SECRET,
        namespace_auth={"/auction": "required"},
    )
    env = {
        **os.environ,
        "SOCKETSVC_URL": str(server.make_url("")).rstrip("/"),
        "TOKEN_ADA": token("ada"),
        "TOKEN_BOB": token("bob"),
    }
    proc = await asyncio.create_subprocess_exec(
        node,
        str(project / "out" / "client.js"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, output.decode()
    log = json.loads(output.decode().strip().splitlines()[-1])
    assert sorted(log) == [
        "ada true -",
        "bob true 100 USD",
        "closing ABC-0001 5",
        "outbid ABC-0001 150 USD",
        "refused invalid_payload",
        "watch ok",
    ]


@pytest.mark.parametrize("mistake", list(WRONG))
async def test_the_generated_types_reject_a_wrong_client(
    contract_ts: str, node_modules: Path, tmp_path: Path, mistake: str
) -> None:
    right, wrong, expected = WRONG[mistake]
    assert CLIENT.count(right) == 1
    project = ts_project(
        tmp_path / "wrong",
        node_modules,
        {"contract.ts": contract_ts, "client.ts": CLIENT.replace(right, wrong)},
    )
    code, out = await tsc(project, "--noEmit")
    line = CLIENT[: CLIENT.index(right)].count("\n") + 1
    found = errors(out)
    assert code != 0 and found, out
    assert re.search(expected, found[0]), out
    # on the line of the mistake only (an unknown event leaves its callback untyped too)
    assert all(e.startswith(f"client.ts({line},") for e in found), out


async def test_payload_types_are_named_after_the_python_classes(contract_ts: str) -> None:
    bid = _block(contract_ts, "export interface Bid {")
    assert "  lot: string;" in bid and "  amount: number;" in bid
    assert '  currency: "EUR" | "USD";' in bid
    assert "  note?: string | null;" in bid  # a default: optional; `| None`: nullable
    assert "  quantity?: number;" in bid
    assert "  tags?: string[] | null;" in bid and "/** length <= 3 */" in bid
    assert "/** matches `[A-Z]{3}-[0-9]{4}` in full */" in bid  # what tsc cannot check, said
    assert "/** > 0, <= 1000000 */" in bid
    accepted = _block(contract_ts, "export interface BidAccepted {")
    assert "  previous?: number;" in accepted and "  leading: boolean;" in accepted
    assert 'export type Speed = "slow" | "live";' in contract_ts
    client = _block(contract_ts, "export interface AuctionClientToServerEvents {")
    assert "  bid: (bid: Bid, ack: (reply: BidAccepted | ErrorAck) => void) => void;" in client
    # a handler returning None: the ack is optional, and carries an error or nothing
    assert (
        "  watch: (lot: string, speed?: Speed, ack?: (error?: ErrorAck) => void) => void;" in client
    )
    head = contract_ts[: contract_ts.index("export interface AuctionClientToServerEvents")]
    assert "it is required" in head[head.rindex("/**") :]  # the namespace's auth
    server = _block(contract_ts, "export interface AuctionServerToClientEvents {")
    assert "  outbid: (payload: Outbid) => void;" in server
    assert "  closing: (arg1: string, arg2: number) => void;" in server  # a tuple: arguments


async def test_a_namespace_with_auth_has_the_token_events(contract_ts: str) -> None:
    # /auction requires a token: the server's own auth:refresh and auth:expiring are in its
    # contract (answered and sent before any handler); /chat (no auth here) has neither.
    client = _block(contract_ts, "export interface AuctionClientToServerEvents {")
    assert (
        '  "auth:refresh": (token: string, ack: (reply: Refreshed | ErrorAck) => void) => void;'
        in client
    )
    server = _block(contract_ts, "export interface AuctionServerToClientEvents {")
    assert '  "auth:expiring": (payload: Expiry) => void;' in server
    refreshed = _block(contract_ts, "export interface Refreshed {")
    assert "  exp: number;\n  left?: string[];" in refreshed
    for side in ("ClientToServerEvents", "ServerToClientEvents"):
        assert "auth:" not in _block(contract_ts, f"export interface Chat{side} {{")


def _block(text: str, start: str) -> str:
    head = text.index(start)
    return text[head : text.index("\n}", head) + 2]
