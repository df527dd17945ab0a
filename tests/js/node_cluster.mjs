// A Node.js node of a mixed cluster, driven by the Python tests (tests/scaleout/node_cluster.py):
// socket.io 4.8 on @socket.io/redis-adapter 8.3 (ADAPTER=classic) or
// @socket.io/redis-streams-adapter 0.3 (ADAPTER=streams), plus stock socket.io-client
// clients of both parsers and an @socket.io/redis-emitter 5.1, all on 127.0.0.1.
//
// Env: REDIS_URL, KEY (the adapters' key / streamName / channelPrefix), ADAPTER.
// Prints "READY <json node port> <msgpack node port> <control port>"; the tests POST {op, ...} as JSON to the
// control port and get {ok, result} or {ok: false, error}. Binary values cross the control
// JSON as {"$bin": "<base64>"}.
import { createRequire } from "node:module";
import http from "node:http";

const require = createRequire(new URL("../../clients/js/package.json", import.meta.url));
const { Server } = require("socket.io");
const { io: connectClient } = require("socket.io-client");
const msgpackParser = require("socket.io-msgpack-parser");
const { Redis } = require("ioredis");
const { Emitter } = require("@socket.io/redis-emitter");

const REDIS_URL = process.env.REDIS_URL;
const KEY = process.env.KEY ?? "socket.io";
const ADAPTER = process.env.ADAPTER ?? "classic";
const NAMESPACES = ["/", "/mixed"];

function encode(value) {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return { $bin: Buffer.from(value).toString("base64") };
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("base64") };
  if (Array.isArray(value)) return value.map(encode);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v)]));
  return value === undefined ? null : value;
}

function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value && typeof value === "object") {
    if (typeof value.$bin === "string" && Object.keys(value).length === 1) return Buffer.from(value.$bin, "base64");
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
  }
  return value;
}

// Two Node nodes in this process, one per parser (a Node server has one), each with its own
// Redis connections: Node counts the nodes of a namespace by their subscriptions.
const servers = {};
const serverEvents = [];

function startServer(parser) {
  const redis = new Redis(REDIS_URL);
  let adapter;
  let recovery;
  if (ADAPTER === "streams") {
    const { createAdapter } = require("@socket.io/redis-streams-adapter");
    adapter = createAdapter(redis, { streamName: KEY, channelPrefix: KEY, blockTimeInMs: 1000 });
    recovery = { maxDisconnectionDuration: 120_000, skipMiddlewares: true };
  } else {
    const { createAdapter } = require("@socket.io/redis-adapter");
    adapter = createAdapter(redis, redis.duplicate(), { key: KEY, requestsTimeout: 5000 });
  }
  const options = { adapter, connectionStateRecovery: recovery, pingInterval: 5000 };
  if (parser === "msgpack") options.parser = msgpackParser;
  const httpServer = http.createServer();
  const io = new Server(httpServer, options);
  for (const name of NAMESPACES) {
    const nsp = io.of(name);
    nsp.on("connection", (socket) => {
      socket.data = { from: "node", name: socket.handshake.auth?.name ?? null };
      socket.on("enter", (room, ack) => { socket.join(room); ack?.(true); });
      socket.on("leave", (room, ack) => { socket.leave(room); ack?.(true); });
      socket.on("state", (ack) => ack?.({ id: socket.id, rooms: [...socket.rooms], recovered: socket.recovered }));
    });
    for (const event of ["hello", "question", "unknown"]) {
      nsp.on(event, (...args) => {
        const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
        serverEvents.push({ nsp: name, event, args: encode(args), server: parser });
        ack?.({ node: `node-${parser}`, event, args });
      });
    }
  }
  servers[parser] = { io, httpServer, redis };
  return new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
}

const publisher = new Redis(REDIS_URL);

// -- clients --------------------------------------------------------------------------------
const clients = new Map(); // name -> {socket, inbox: Map(event -> [args...]), waiters}

function inboxOf(name) {
  const client = clients.get(name);
  if (!client) throw new Error(`no client ${name}`);
  return client;
}

function openClient({ name, url, nsp = "/", parser = "json", auth = {}, transports = ["websocket"], recover = false }) {
  const opts = { transports, forceNew: true, reconnection: false, auth: { name, ...auth } };
  if (parser === "msgpack") opts.parser = msgpackParser;
  const socket = connectClient(url + nsp, opts);
  const client = { socket, inbox: new Map(), waiters: [] };
  clients.set(name, client);
  socket.onAny((event, ...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack({ answer: name, args });
    const list = client.inbox.get(event) ?? [];
    list.push(args);
    client.inbox.set(event, list);
    client.waiters.filter((w) => w.event === event).forEach((w) => w.wake());
  });
  socket.on("disconnect", (reason) => {
    const list = client.inbox.get("disconnect") ?? [];
    list.push([reason]);
    client.inbox.set("disconnect", list);
    client.waiters.filter((w) => w.event === "disconnect").forEach((w) => w.wake());
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("connect timeout")), 5000);
    socket.once("connect", () => { clearTimeout(timer); resolve({ id: socket.id, recovered: socket.recovered }); });
    socket.once("connect_error", (err) => { clearTimeout(timer); reject(err); });
  });
}

function nextEvent({ name, event, timeout = 5000, count = 1 }) {
  const client = inboxOf(name);
  return new Promise((resolve, reject) => {
    const check = () => {
      const list = client.inbox.get(event) ?? [];
      if (list.length >= count) {
        client.inbox.set(event, list.slice(count));
        return resolve(encode(list.slice(0, count)));
      }
      return false;
    };
    if (check() !== false) return;
    const waiter = { event, wake: () => { if (check() !== false) { clearTimeout(timer); client.waiters = client.waiters.filter((w) => w !== waiter); } } };
    const timer = setTimeout(() => {
      client.waiters = client.waiters.filter((w) => w !== waiter);
      reject(new Error(`${name}: no ${count} ${event} within ${timeout}ms`));
    }, timeout);
    client.waiters.push(waiter);
  });
}

function target(nsp, { to = [], except = [], server = "json" }) {
  let op = servers[server].io.of(nsp);
  if (to.length) op = op.to(to);
  if (except.length) op = op.except(except);
  return op;
}

const emitter = new Emitter(publisher, { key: KEY });

function emitterTarget(nsp, { to = [], except = [], volatile = false }) {
  let op = emitter.of(nsp);
  if (to.length) op = op.to(to);
  if (except.length) op = op.except(except);
  if (volatile) op = op.volatile;
  return op;
}

const OPS = {
  serverEmit: ({ nsp, event, args, volatile, ...t }) => {
    let op = target(nsp, t);
    if (volatile) op = op.volatile;
    op.emit(event, ...decode(args));
    return true;
  },
  serverEmitWithAck: async ({ nsp, event, args, timeout = 3000, ...t }) =>
    encode(await target(nsp, t).timeout(timeout).emitWithAck(event, ...decode(args))),
  fetchSockets: async ({ nsp, ...t }) =>
    encode((await target(nsp, t).fetchSockets()).map((s) => ({ id: s.id, rooms: [...s.rooms], data: s.data, auth: s.handshake.auth ?? null }))),
  socketsJoin: ({ nsp, rooms, ...t }) => { target(nsp, t).socketsJoin(rooms); return true; },
  socketsLeave: ({ nsp, rooms, ...t }) => { target(nsp, t).socketsLeave(rooms); return true; },
  disconnectSockets: ({ nsp, close = false, ...t }) => { target(nsp, t).disconnectSockets(close); return true; },
  serverSideEmit: ({ nsp, event, args, server = "json" }) => { servers[server].io.of(nsp).serverSideEmit(event, ...decode(args)); return true; },
  serverSideEmitWithAck: async ({ nsp, event, args, server = "json" }) =>
    encode(await servers[server].io.of(nsp).serverSideEmitWithAck(event, ...decode(args))),
  allRooms: async ({ nsp, server = "json" }) => [...(await servers[server].io.of(nsp).adapter.allRooms())],
  serverCount: async ({ nsp, server = "json" }) => servers[server].io.of(nsp).adapter.serverCount(),
  serverEvents: () => serverEvents.splice(0),
  connect: (options) => openClient(options),
  clientEmit: ({ name, event, args }) => { inboxOf(name).socket.emit(event, ...decode(args)); return true; },
  clientAsk: async ({ name, event, args }) => encode(await inboxOf(name).socket.timeout(5000).emitWithAck(event, ...decode(args))),
  next: (options) => nextEvent(options),
  received: ({ name, event }) => { const c = inboxOf(name); const l = c.inbox.get(event) ?? []; c.inbox.set(event, []); return encode(l); },
  dropTransport: ({ name }) => { inboxOf(name).socket.io.engine.close(); return true; },
  // The stock client's own recovery: the same Socket connects again (to another node: a load
  // balancer moved it) and sends its pid and last offset.
  reconnect: ({ name, url }) => {
    const socket = inboxOf(name).socket;
    socket.io.uri = url;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("reconnect timeout")), 5000);
      socket.once("connect", () => { clearTimeout(timer); resolve({ id: socket.id, recovered: socket.recovered }); });
      socket.connect();
    });
  },
  close: ({ name }) => { inboxOf(name).socket.close(); clients.delete(name); return true; },
  closeAll: () => { for (const c of clients.values()) c.socket.close(); clients.clear(); serverEvents.splice(0); return true; },
  emitterEmit: ({ nsp, event, args, ...t }) => { emitterTarget(nsp, t).emit(event, ...decode(args)); return true; },
  emitterJoin: ({ nsp, rooms, ...t }) => { emitterTarget(nsp, t).socketsJoin(rooms); return true; },
  emitterLeave: ({ nsp, rooms, ...t }) => { emitterTarget(nsp, t).socketsLeave(rooms); return true; },
  emitterDisconnect: ({ nsp, close = false, ...t }) => { emitterTarget(nsp, t).disconnectSockets(close); return true; },
  emitterServerSideEmit: ({ nsp, event, args }) => { emitter.of(nsp).serverSideEmit(event, ...decode(args)); return true; },
  publish: async ({ channel, base64 }) => publisher.publish(channel, Buffer.from(base64, "base64")),
};

const control = http.createServer((req, res) => {
  let body = "";
  req.on("data", (chunk) => { body += chunk; });
  req.on("end", async () => {
    let reply;
    try {
      const request = JSON.parse(body);
      const op = OPS[request.op];
      if (!op) throw new Error(`unknown op ${request.op}`);
      reply = { ok: true, result: (await op(request)) ?? null };
    } catch (err) {
      reply = { ok: false, error: String(err?.message ?? err) };
    }
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(reply));
  });
});

await startServer("json");
await startServer("msgpack");
control.listen(0, "127.0.0.1", () => {
  const port = (parser) => servers[parser].httpServer.address().port;
  console.log(`READY ${port("json")} ${port("msgpack")} ${control.address().port}`);
});

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    for (const c of clients.values()) c.socket.close();
    for (const { io, redis } of Object.values(servers)) { io.close(); redis.disconnect(); }
    publisher.disconnect();
    process.exit(0);
  });
}
