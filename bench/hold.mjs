#!/usr/bin/env node
// Connect N idle clients and hold them until standard input ends (bench/conncost.py).
//
// Same raw websocket client and batches as loadgen.mjs's idle scenario. Prints one JSON line
// once every client is connected (or failed), then waits for its standard input to close,
// closes every client and exits. Bounded: a hard deadline exits whatever happens.
//
//   node bench/hold.mjs --port 5000 --format json --clients 2000
import { parseArgs } from "node:util";

import { RawClient, wsUrl } from "./sio_raw.mjs";

const { values: opt } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    format: { type: "string", default: "json" },
    clients: { type: "string", default: "1000" },
    batch: { type: "string", default: "200" },
    deadline: { type: "string", default: "300" },
  },
});

const N = Number.parseInt(opt.clients, 10);
const BATCH = Number.parseInt(opt.batch, 10);
const url = wsUrl(opt.host, opt.port);
const clients = [];

const hardStop = setTimeout(
  () => {
    process.stdout.write(JSON.stringify({ ok: false, error: "deadline exceeded" }) + "\n");
    process.exit(3);
  },
  Number.parseFloat(opt.deadline) * 1000,
);

async function main() {
  let failures = 0;
  let firstError = null;
  const t0 = performance.now();
  for (let i = 0; i < N; i += BATCH) {
    const k = Math.min(BATCH, N - i);
    const results = await Promise.allSettled(
      Array.from({ length: k }, () => new RawClient(url, opt.format).connect()),
    );
    for (const r of results) {
      if (r.status === "fulfilled") clients.push(r.value);
      else {
        failures++;
        firstError ??= String(r.reason && r.reason.message ? r.reason.message : r.reason);
      }
    }
  }
  const wall = (performance.now() - t0) / 1000;
  process.stdout.write(
    JSON.stringify({ ok: failures === 0, connected: clients.length, failures, firstError, wall_s: wall }) +
      "\n",
  );
  process.stdin.resume();
  process.stdin.on("end", () => {
    for (const c of clients) c.close();
    clearTimeout(hardStop);
    process.exit(0);
  });
}

main();
