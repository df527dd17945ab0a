// The clients of tests/scaleout/test_recovery_burst.py: CLIENTS stock socket.io-clients of
// /recovering in room "r" (JSON and msgpack, websocket and polling, in turn), driven by
// commands on stdin, one per line, each answered by one line on stdout:
//   drop     every client cuts its transport (as a network change would) -> "dropped"
//   back     every client reconnects at once, with its pid and last offset -> "back"
//   report N once every client has received payload N (or 60 s passed): one JSON line
//            with, per client, whether it was recovered with its old id, and the payloads
//            it received, in order
// It prints "ready" once every client has joined the room and received payload 1.
// Bounded: exits by itself after DEADLINE seconds.
import readline from "node:readline";
import { io, options } from "./client.mjs";

const URL_ = process.env.SOCKETSVC_URL;
const N = Number(process.env.CLIENTS ?? "200");
setTimeout(() => { console.error("deadline reached"); process.exit(2); },
  Number(process.env.DEADLINE ?? "240") * 1000).unref();

const TRANSPORTS = [["websocket"], ["polling"]];
const clients = [];
for (let i = 0; i < N; i++) {
  const socket = io(URL_ + "/recovering", {
    ...options({}, i % 2 ? "msgpack" : "json"),
    transports: TRANSPORTS[Math.floor(i / 2) % 2],
  });
  const client = { socket, got: [], id: null, recovered: false };
  socket.on("news", (payload) => client.got.push(payload));
  clients.push(client);
}

function until(condition, ms) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + ms;
    const look = () => {
      if (condition()) resolve();
      else if (Date.now() > deadline) reject(new Error("condition not met in time"));
      else setTimeout(look, 20);
    };
    look();
  });
}

function connected(socket) {
  return new Promise((resolve, reject) => {
    if (socket.connected) return resolve();
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
}

await Promise.all(clients.map(async (c) => {
  await connected(c.socket);
  c.id = c.socket.id;
  await c.socket.timeout(30000).emitWithAck("enter", "r");
}));
console.log("joined");
await until(() => clients.every((c) => c.got.length > 0), 30000);
console.log("ready");

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const [command, arg] = line.trim().split(" ");
  if (command === "drop") {
    await Promise.all(clients.map((c) => {
      const gone = new Promise((resolve) => c.socket.once("disconnect", resolve));
      c.socket.io.engine.close();
      return gone;
    }));
    console.log("dropped");
  } else if (command === "back") {
    await Promise.all(clients.map(async (c) => {
      const back = connected(c.socket);
      // From now on reconnecting by itself, as apps' clients do: one the node closes while
      // it is behind (it could not finish its replay) comes back and recovers from there.
      c.socket.io.reconnection(true);
      c.socket.io.reconnectionDelay(200);
      c.socket.connect();
      await back;
      c.recovered = c.socket.recovered && c.socket.id === c.id;
    }));
    console.log("back");
  } else if (command === "report") {
    const last = Number(arg);
    await until(() => clients.every((c) => c.got.at(-1) === last), 60000).catch(() => {});
    const report = clients.map((c) => ({ recovered: c.recovered, got: c.got }));
    clients.forEach((c) => c.socket.close());
    process.stdout.write(JSON.stringify(report) + "\n", () => process.exit(0));
  }
}
