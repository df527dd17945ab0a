#!/usr/bin/env node
// One churn cycle for bench/soak.py: connect N stock socket.io-client clients to /chat (at most
// --batch handshakes in flight), have each join a room and say one message, and close it; with
// --hold, all N stay connected until the last has spoken, then all close at once (the node's
// peak is then N connections). Prints one JSON line: {ok, connected, failures, first_error,
// seconds}.
// Bounded by the count and by --deadline seconds (the process exits then, whatever happens).
//
//   node bench/churn.mjs --url http://127.0.0.1:8000 --clients 5000 --batch 200 \
//        --transports polling,websocket --parser mixed
import { createRequire } from "node:module";
import { parseArgs } from "node:util";

const require = createRequire(new URL("../clients/js/package.json", import.meta.url));
const { io } = require("socket.io-client");
const msgpackParser = require("socket.io-msgpack-parser");

const { values: opt } = parseArgs({
  options: {
    url: { type: "string" },
    clients: { type: "string", default: "1000" },
    batch: { type: "string", default: "200" },
    transports: { type: "string", default: "polling,websocket" }, // the browser default
    parser: { type: "string", default: "mixed" }, // json | msgpack | mixed
    rooms: { type: "string", default: "50" },
    deadline: { type: "string", default: "300" },
    hold: { type: "boolean", default: false },
  },
});
const held = [];

const N = Number.parseInt(opt.clients, 10);
const BATCH = Number.parseInt(opt.batch, 10);
const ROOMS = Number.parseInt(opt.rooms, 10);
const TRANSPORTS = opt.transports.split(",");
const started = performance.now();

function out(result) {
  process.stdout.write(
    JSON.stringify({ ...result, seconds: (performance.now() - started) / 1000 }) + "\n",
  );
}

setTimeout(() => {
  out({ ok: false, error: `deadline of ${opt.deadline}s exceeded` });
  process.exit(3);
}, Number.parseFloat(opt.deadline) * 1000).unref();

/** One client's life: connect, join, say something, leave. Resolves to a step name reached. */
function life(i) {
  const msgpack = opt.parser === "msgpack" || (opt.parser === "mixed" && i % 2 === 1);
  const socket = io(`${opt.url}/chat`, {
    transports: TRANSPORTS,
    forceNew: true,
    reconnection: false,
    timeout: 10_000,
    ...(msgpack ? { parser: msgpackParser } : {}),
  });
  return new Promise((resolve, reject) => {
    const fail = (err) => {
      socket.close();
      reject(err instanceof Error ? err : new Error(String(err)));
    };
    socket.once("connect_error", fail);
    socket.once("connect", async () => {
      try {
        const room = `churn-${i % ROOMS}`;
        const joined = await socket.timeout(10_000).emitWithAck("join", { room, name: `c${i}` });
        if (!joined || joined.error) throw new Error(JSON.stringify(joined));
        await socket.timeout(10_000).emitWithAck("message", { room, text: `hello from ${i}` });
        if (opt.hold) held.push(socket);
        else socket.close();
        resolve();
      } catch (err) {
        fail(err);
      }
    });
  });
}

let connected = 0;
let failures = 0;
let firstError = null;
for (let i = 0; i < N; i += BATCH) {
  const results = await Promise.allSettled(
    Array.from({ length: Math.min(BATCH, N - i) }, (_, j) => life(i + j)),
  );
  for (const r of results) {
    if (r.status === "fulfilled") connected++;
    else {
      failures++;
      firstError ??= String(r.reason?.message ?? r.reason);
    }
  }
}
for (const socket of held) socket.close();
out({ ok: failures === 0, connected, failures, first_error: firstError });
process.exit(0);
