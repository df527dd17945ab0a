#!/usr/bin/env node
// The driver of bench/ledger.py's instruction count: CLIENTS raw clients each keep WINDOW
// `echo` events outstanding; after WARMUP acks it prints "warm" and waits for a line on
// stdin, then runs exactly EVENTS more acks and prints "done <acks>". Bounded by a deadline.
//
//   node bench/ledger_client.mjs --port 5000 --format json --clients 1 --window 1 \
//        --warmup 200 --events 2000
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

import { RawClient, wsUrl } from "./sio_raw.mjs";

const { values: opt } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    format: { type: "string", default: "json" },
    clients: { type: "string", default: "1" },
    window: { type: "string", default: "1" },
    warmup: { type: "string", default: "200" },
    events: { type: "string", default: "2000" },
    deadline: { type: "string", default: "600" },
  },
});
const hardStop = setTimeout(() => {
  process.stdout.write("error deadline exceeded\n");
  process.exit(3);
}, Number(opt.deadline) * 1000);

const payload = { s: "x".repeat(64), n: 0 };
const WARMUP = Number(opt.warmup);
const EVENTS = Number(opt.events);
const clients = [];
for (let i = 0; i < Number(opt.clients); i++) {
  clients.push(await new RawClient(wsUrl(opt.host, opt.port), opt.format, null).connect(60000));
}
let acked = 0;
let target = WARMUP;
let onTarget = null;
let sending = true;
const sendOne = (c) => {
  c.emit("echo", payload, () => {
    acked++;
    if (acked === target && onTarget) onTarget();
    if (sending && acked + inFlight() <= target) sendOne(c);
  });
};
const inFlight = () => clients.length * Number(opt.window);
const phase = (n) =>
  new Promise((resolve) => {
    target = acked + n;
    onTarget = resolve;
    sending = true;
    for (const c of clients) for (let i = 0; i < Number(opt.window); i++) sendOne(c);
  });
await phase(WARMUP);
process.stdout.write("warm\n");
await new Promise((resolve) => createInterface({ input: process.stdin }).once("line", resolve));
const before = acked;
await phase(EVENTS);
process.stdout.write(`done ${acked - before}\n`);
for (const c of clients) c.close();
clearTimeout(hardStop);
