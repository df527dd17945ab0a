#!/usr/bin/env node
// Two stock socket.io-client instances chat through nginx, each from its own loopback source
// address so that nginx's ip_hash sends them to different socketsvc nodes. Default transports
// (polling, then upgrade to websocket). Prints one JSON line; exits by itself within --deadline.
//
//   node tests/js/cross_node_chat.mjs --url http://127.0.0.1:8080 --from 127.0.0.1,127.1.0.1
import { createRequire } from "node:module";
import http from "node:http";
import { parseArgs } from "node:util";

const require = createRequire(import.meta.url);
const { io } = require("../../clients/js/node_modules/socket.io-client");

const { values: opt } = parseArgs({
  options: {
    url: { type: "string" },
    from: { type: "string", default: "127.0.0.1,127.1.0.1" },
    room: { type: "string", default: "lobby" },
    deadline: { type: "string", default: "20" },
    step: { type: "string", default: "" }, // "connect": connect, report, wait for "go" on stdin
  },
});

const result = { ok: false, transports: [], received: [], members: null };
const finish = (extra) => {
  process.stdout.write(JSON.stringify({ ...result, ...extra }) + "\n");
  process.exit(extra.ok ?? result.ok ? 0 : 1);
};
setTimeout(() => finish({ ok: false, error: `deadline ${opt.deadline}s` }), Number(opt.deadline) * 1000);

function connect(localAddress) {
  const agent = new http.Agent({ keepAlive: true, localAddress });
  const socket = io(`${opt.url}/chat`, { agent, reconnection: false, timeout: 5000 });
  return new Promise((resolve, reject) => {
    socket.on("connect", () => resolve(socket));
    socket.on("connect_error", (err) => reject(new Error(`connect_error: ${err.message}`)));
  });
}

const upgraded = (socket) =>
  new Promise((resolve) => {
    if (socket.io.engine.transport.name === "websocket") return resolve("websocket");
    socket.io.engine.on("upgrade", (t) => resolve(t.name));
    setTimeout(() => resolve(socket.io.engine.transport.name), 3000);
  });

const stdinLine = () =>
  new Promise((resolve) => process.stdin.once("data", (d) => resolve(String(d).trim())));

try {
  const [addrA, addrB] = opt.from.split(",");
  const alice = await connect(addrA);
  const bob = await connect(addrB);
  result.transports = [await upgraded(alice), await upgraded(bob)];
  if (opt.step === "connect") {
    process.stdout.write(JSON.stringify({ connected: true }) + "\n");
    if ((await stdinLine()) !== "go") finish({ ok: false, error: "aborted" });
  }
  const got = new Promise((resolve) => bob.on("message", (m) => resolve(m)));
  await alice.timeout(5000).emitWithAck("join", { room: opt.room, name: "alice" });
  const joined = await bob.timeout(5000).emitWithAck("join", { room: opt.room, name: "bob" });
  result.members = joined.members;
  await alice.timeout(5000).emitWithAck("message", { room: opt.room, text: "across nodes" });
  const message = await got;
  result.received.push(message.text);
  const back = new Promise((resolve) => alice.on("message", (m) => resolve(m)));
  await bob.timeout(5000).emitWithAck("message", { room: opt.room, text: "and back" });
  result.received.push((await back).text);
  alice.close();
  bob.close();
  finish({ ok: true });
} catch (err) {
  finish({ ok: false, error: String(err?.stack ?? err) });
}
