#!/usr/bin/env node
// Cross-check the raw-frame client (sio_raw.mjs) against the stock
// socket.io-client (+ socket.io-msgpack-parser for msgpack) on one server.
//
//   node bench/verify_client.mjs --port 5000 --format json|msgpack
//
// Both clients connect, emit `echo` with the same payload and ack id 0, join the
// same room and receive the same `tick`. Checks:
//   * the CONNECT and EVENT frames the raw client sends equal the stock ones
//     (JSON: byte for byte; msgpack: same type/nsp/data/id after decoding;
//     the stock msgpack encoder also ships an `options` key that servers ignore)
//   * the ACK frame each receives is identical, and both decode to the payload
//   * the tick each receives decodes to the broadcast object.
// Prints one JSON line {ok, checks: [{name, ok, detail}]} and exits 0/1.
import { createRequire } from "node:module";
import { isDeepStrictEqual, parseArgs } from "node:util";

import { RawClient, decodeBinary, decodeText, encodePacket, notepack, wsUrl } from "./sio_raw.mjs";

const require = createRequire(new URL("../clients/js/package.json", import.meta.url));
const { Manager } = require("socket.io-client");
const msgpackParser = require("socket.io-msgpack-parser");

const { values: opt } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    format: { type: "string", default: "json" },
    deadline: { type: "string", default: "20" },
  },
});
const FORMAT = opt.format;
const ROOM = "verify-room";
const PAYLOAD = { s: "héllo ✓", n: 42, f: 1.5, a: [1, "two", null, true], o: { k: "v" } };

const checks = [];
const check = (name, ok, detail) => checks.push({ name, ok: Boolean(ok), detail });
const finish = (extra = {}) => {
  const ok = checks.length > 0 && checks.every((c) => c.ok) && !extra.error;
  process.stdout.write(JSON.stringify({ scenario: "verify", format: FORMAT, ok, checks, ...extra }) + "\n");
  process.exit(ok ? 0 : 1);
};
setTimeout(() => finish({ error: `deadline of ${opt.deadline}s exceeded` }), Number(opt.deadline) * 1000);

const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what} timed out`)), ms))]);

// Normalise a frame to something comparable: JSON frames stay strings, msgpack
// frames become {type, nsp, data, id} (dropping the stock `options` key).
function norm(frame) {
  if (typeof frame === "string") return frame;
  const p = notepack.decode(Buffer.from(frame));
  const o = { type: p.type, nsp: p.nsp };
  if (p.data !== undefined) o.data = p.data;
  if (p.id !== undefined) o.id = p.id;
  return o;
}

function decodeAny(frame) {
  return typeof frame === "string" ? decodeText(frame, 0) : decodeBinary(Buffer.from(frame));
}

async function stockClient() {
  const sent = [];
  const recv = [];
  const manager = new Manager(`http://${opt.host}:${opt.port}`, {
    transports: ["websocket"],
    reconnection: false,
    autoConnect: false,
    parser: FORMAT === "msgpack" ? msgpackParser : undefined,
  });
  // Registered before the socket subscribes, so the CONNECT frame is captured too.
  manager.on("open", () => {
    manager.engine.on("packetCreate", (p) => p.type === "message" && sent.push(p.data));
    manager.engine.on("packet", (p) => p.type === "message" && recv.push(p.data));
  });
  const socket = manager.socket("/");
  const ticks = [];
  socket.on("tick", (d) => ticks.push(d));
  await withTimeout(
    new Promise((res, rej) => {
      socket.once("connect", res);
      socket.once("connect_error", rej);
      socket.connect();
    }),
    5000,
    "stock connect",
  );
  return { manager, socket, sent, recv, ticks };
}

async function rawClient() {
  const sent = [];
  const recv = [];
  const ticks = [];
  const c = new RawClient(wsUrl(opt.host, opt.port), FORMAT, (ev, args) => {
    if (ev === "tick") ticks.push(args[0]);
  });
  // Tap outgoing/incoming Socket.IO frames (Engine.IO "4" prefix stripped for text).
  c.onFrame = (msg, isBinary) => {
    if (isBinary) recv.push(msg);
    else if (msg.toString()[0] === "4") recv.push(msg.toString().slice(1));
  };
  await c.connect(5000);
  const wsSend = c.ws.send.bind(c.ws);
  c.ws.send = (frame, ...rest) => {
    if (typeof frame !== "string") sent.push(frame);
    else if (frame[0] === "4") sent.push(frame.slice(1));
    return wsSend(frame, ...rest);
  };
  return { c, sent, recv, ticks };
}

async function main() {
  const stock = await stockClient();
  const raw = await rawClient();

  // CONNECT: the raw client's CONNECT went out before the tap, re-encode it the same way.
  const rawConnect = encodePacket(FORMAT, 0);
  const rc = norm(typeof rawConnect === "string" ? rawConnect.slice(1) : rawConnect);
  const sc = norm(stock.sent[0]);
  // the stock client sends CONNECT with an explicit `data: undefined` (msgpack: ext) - compare type/nsp
  const connectOk =
    typeof rc === "string"
      ? rc === sc
      : rc.type === sc.type && rc.nsp === sc.nsp && rc.type === 0 && rc.data === undefined;
  check("connect frame", connectOk, { raw: rc, stock: sc });
  check("raw client got sid", typeof raw.c.sid === "string" && raw.c.sid.length > 0, raw.c.sid);

  // echo with ack id 0 on both
  const stockAck = await withTimeout(stock.socket.emitWithAck("echo", PAYLOAD), 5000, "stock echo");
  const rawAck = await withTimeout(raw.c.call("echo", PAYLOAD), 5000, "raw echo");
  const sEv = norm(stock.sent[1]);
  const rEv = norm(raw.sent[0]);
  check("echo event frame identical", isDeepStrictEqual(sEv, rEv), { raw: rEv, stock: sEv });
  check("stock ack == payload", isDeepStrictEqual(stockAck, PAYLOAD), stockAck);
  check("raw ack == [payload]", isDeepStrictEqual(rawAck, [PAYLOAD]), rawAck);
  const sAckFrame = stock.recv.find((f) => decodeAny(f).type === 3);
  const rAckFrame = raw.recv.find((f) => decodeAny(f).type === 3);
  check(
    "ack frame identical",
    sAckFrame !== undefined && isDeepStrictEqual(norm(sAckFrame), norm(rAckFrame)),
    { raw: rAckFrame && norm(rAckFrame), stock: sAckFrame && norm(sAckFrame) },
  );

  // join + broadcast -> tick
  const sJoin = await withTimeout(stock.socket.emitWithAck("join", { room: ROOM }), 5000, "stock join");
  const rJoin = await withTimeout(raw.c.call("join", { room: ROOM }), 5000, "raw join");
  check("join acks", sJoin === true && isDeepStrictEqual(rJoin, [true]), { stock: sJoin, raw: rJoin });
  const obj = { room: ROOM, payload: { seq: 7, m: 1, s: PAYLOAD.s }, ts: 1234.5 };
  raw.c.emit("broadcast", obj);
  const t0 = Date.now();
  while ((stock.ticks.length === 0 || raw.ticks.length === 0) && Date.now() - t0 < 5000) {
    await new Promise((r) => setTimeout(r, 10));
  }
  check("stock tick == broadcast object", isDeepStrictEqual(stock.ticks[0], obj), stock.ticks[0]);
  check("raw tick == broadcast object", isDeepStrictEqual(raw.ticks[0], obj), raw.ticks[0]);

  stock.socket.disconnect();
  stock.manager.engine?.close();
  raw.c.close();
  finish();
}

main().catch((err) => {
  check("exception", false, String(err && err.message ? err.message : err));
  finish({ error: String(err) });
});
