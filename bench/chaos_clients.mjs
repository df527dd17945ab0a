// The client side of bench/chaos.py: N members of one /chat room and one publisher, all stock
// socket.io-client under @socketsvc/client's ChatClient (which rejoins after a fresh connect
// and retries a send with the same message id), spread over loopback source addresses so that
// nginx's ip_hash puts them on both nodes. Members take the JSON and msgpack parsers and the
// websocket and polling transports in turn (--transports). Commands on stdin, one per line:
//   publish   start sending "seq:<n>" at --rate messages/s
//   stop      stop sending
//   report    once every member has the last acked seq (or --drain seconds passed: members
//             behind, polling ones above all, catch up), print one JSON line (every acked
//             seq, what each member received, how long the wait took) and exit
// It prints "ready" once every member has joined. Bounded: exits by itself after --deadline s.
import http from "node:http";
import readline from "node:readline";
import { parseArgs } from "node:util";
import { ChatClient } from "../clients/js/dist/index.js";

const { values: opt } = parseArgs({
  options: {
    url: { type: "string" },
    clients: { type: "string", default: "200" },
    rate: { type: "string", default: "200" },
    room: { type: "string", default: "chaos" },
    sources: { type: "string", default: "16" },
    deadline: { type: "string", default: "600" },
    transports: { type: "string", default: "websocket,polling" },
    drain: { type: "string", default: "120" },
  },
});
const TRANSPORTS = opt.transports.split(",");
const N = Number(opt.clients);
setTimeout(() => { console.error("deadline reached"); process.exit(2); }, Number(opt.deadline) * 1000).unref();

const agents = Array.from({ length: Number(opt.sources) }, (_, i) =>
  new http.Agent({ keepAlive: true, localAddress: `127.${i}.0.1` }));

function format(i) {
  return i % 2 ? "msgpack" : "json";
}

function transport(i) {
  return TRANSPORTS[Math.floor(i / 2) % TRANSPORTS.length];
}

function client(i, options = {}) {
  return ChatClient.connect(opt.url, {
    format: format(i),
    transports: [transport(i)],
    agent: agents[i % agents.length],
    requestTimeout: 10000,
    ...options,
  });
}

const members = [];
const received = []; // per member: seq -> times received
const recovered = new Array(N).fill(0);
const fresh = new Array(N).fill(0);
for (let i = 0; i < N; i++) {
  const member = client(i);
  const seen = new Map();
  member.on("message", (m) => {
    const seq = Number(m.text.slice(4));
    seen.set(seq, (seen.get(seq) ?? 0) + 1);
  });
  member.socket.on("connect", () => {
    if (member.socket.recovered) recovered[i]++;
    else fresh[i]++;
    if (process.env.CHAOS_DEBUG) console.error(`${Date.now() % 100000} member ${i} connect recovered=${member.socket.recovered} id=${member.socket.id} last=${Math.max(0, ...seen.keys())} nsp-offset=${member.socket._lastOffset}`);
  });
  member.socket.on("connect_error", (err) => {
    if (process.env.CHAOS_DEBUG) console.error(`${Date.now() % 100000} member ${i} connect_error ${err.message} ${err.description?.message ?? err.description ?? ""}`);
  });
  member.socket.on("disconnect", (reason) => {
    if (process.env.CHAOS_DEBUG) console.error(`${Date.now() % 100000} member ${i} disconnect ${reason} last=${Math.max(0, ...seen.keys())}`);
  });
  members.push(member);
  received.push(seen);
}
await Promise.all(members.map((m, i) => m.join(opt.room, `member-${i}`)));

const publisher = client(N, { sendRetries: 20, requestTimeout: 10000 });
await publisher.join(opt.room, "publisher");
const acked = [];
const failed = [];
let sending = null;
let seq = 0;
const inflight = new Set();

function publish() {
  const interval = 1000 / Number(opt.rate);
  let next = Date.now();
  sending = setInterval(() => {
    while (Date.now() >= next) {
      next += interval;
      const n = ++seq;
      const p = publisher.send(opt.room, `seq:${n}`).then(() => acked.push(n), (err) => failed.push([n, err.code]));
      inflight.add(p);
      p.finally(() => inflight.delete(p));
    }
  }, 5);
}

console.log("ready");
const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const command = line.trim();
  if (command === "publish") publish();
  else if (command === "stop") {
    clearInterval(sending);
    await Promise.allSettled([...inflight]);
    console.log("stopped");
  } else if (command === "report") {
    const last = acked.reduce((a, b) => Math.max(a, b), 0);
    const started = Date.now();
    const deadline = started + Number(opt.drain) * 1000;
    while (Date.now() < deadline && received.some((seen) => !seen.has(last))) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const report = {
      drained_s: (Date.now() - started) / 1000,
      sent: seq,
      acked,
      failed,
      members: received.map((seen, i) => ({
        received: [...seen.entries()],
        recovered: recovered[i],
        fresh: fresh[i],
        state: members[i].state,
        format: format(i),
        transport: transport(i),
      })),
    };
    for (const m of [...members, publisher]) m.close();
    // A pipe is written asynchronously: exit once the whole line is out.
    process.stdout.write(JSON.stringify(report) + "\n", () => process.exit(0));
  }
}
