// A machine of `socketsvc serve --workers 2` when a worker dies, and when the machine is
// restarted: stock npm socket.io-client clients are recovered, nothing lost, nothing twice.
//
// Environment (set by tests/workers/test_lifecycle.py): SCENARIO, SOCKETSVC_URL (the machine),
// TRANSPORT, PARSER; for "rolling" also MACHINE_PID (the primary) and NODE_B (another node on
// the same Redis).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { io, options, request, settled, URL_ } from "./client.mjs";

const NS = "/machine";
const opened = [];
const servers = [];
after(() => {
  opened.forEach((s) => s.close());
  servers.forEach((s) => s.close());
});

async function open(base = URL_) {
  const socket = io(base + NS, options());
  opened.push(socket);
  await connected(socket);
  return socket;
}

async function connected(socket) {
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  await settled(socket);
}

async function until(condition, ms = 8000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Reconnect until connected (a dead worker's connections are refused until it is back). */
async function comeBack(socket) {
  for (let attempt = 0; ; attempt++) {
    try {
      socket.connect();
      await connected(socket);
      return;
    } catch (err) {
      if (attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** A TCP proxy to `url`; `switchTo(url)` sends new connections elsewhere. */
async function proxy(url) {
  let target = new URL(url);
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => { client.destroy(); upstream.destroy(); };
    for (const end of [client, upstream]) { end.on("error", close); end.on("close", close); }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    switchTo(next) { target = new URL(next); },
  };
}

if (process.env.SCENARIO === "crash") {
  test("a killed worker's client is recovered; the worker is started again", async () => {
    const clients = [];
    while (new Set(clients.map((c) => c.pid)).size < 2) {
      assert.ok(clients.length < 40, "every client landed on one worker");
      const socket = await open();
      socket.pid = await request(socket, "where");
      clients.push(socket);
    }
    const [alice] = clients;
    const bob = clients.find((c) => c.pid !== alice.pid);
    await Promise.all(clients.map((c) => request(c, "enter", "crash")));
    const news = [];
    alice.on("news", (payload) => news.push(payload));
    const id = alice.id;
    const gone = new Promise((resolve) => alice.once("disconnect", resolve));
    process.kill(alice.pid, "SIGKILL");
    await gone;
    for (const n of [1, 2, 3]) await request(bob, "tell", "crash", `missed ${n}`);
    await comeBack(alice);
    assert.equal(alice.recovered, true);
    assert.equal(alice.id, id);
    await request(bob, "tell", "crash", "after");
    await until(() => news.length === 4);
    assert.deepEqual(news, ["missed 1", "missed 2", "missed 3", "after"]);
    // both workers serve again: a new client lands on each sooner or later
    const pids = new Set();
    for (let n = 0; pids.size < 2; n++) {
      assert.ok(n < 40, "the killed worker did not come back");
      const socket = await open();
      pids.add(await request(socket, "where"));
      socket.close();
    }
    assert.ok(!pids.has(alice.pid)); // a new process in the dead one's seat
  });
}

if (process.env.SCENARIO === "rolling") {
  test("SIGTERM drains every worker; clients are recovered on another node", async () => {
    const balancer = await proxy(URL_);
    const bob = await open(process.env.NODE_B);
    await request(bob, "enter", "rolling");
    const clients = [];
    while (new Set(clients.map((c) => c.pid)).size < 2) {
      assert.ok(clients.length < 40, "every client landed on one worker");
      const socket = await open(balancer.url);
      socket.pid = await request(socket, "where");
      clients.push(socket);
    }
    await Promise.all(clients.map((c) => request(c, "enter", "rolling")));
    const seen = clients.map((c) => {
      const got = [];
      c.on("news", (payload) => got.push(payload));
      return got;
    });
    await request(bob, "tell", "rolling", "before");
    await until(() => seen.every((got) => got.length === 1));
    const ids = clients.map((c) => c.id);
    const gone = clients.map((c) => new Promise((resolve) => c.once("disconnect", resolve)));
    balancer.switchTo(process.env.NODE_B);
    process.kill(Number(process.env.MACHINE_PID), "SIGTERM");
    await Promise.all(gone);
    for (const n of [1, 2, 3]) await request(bob, "tell", "rolling", `missed ${n}`);
    for (const c of clients) await comeBack(c);
    assert.deepEqual(clients.map((c) => c.recovered), clients.map(() => true));
    assert.deepEqual(clients.map((c) => c.id), ids);
    await request(bob, "tell", "rolling", "after");
    const expected = ["before", "missed 1", "missed 2", "missed 3", "after"];
    await until(() => seen.every((got) => got.length === expected.length));
    for (const got of seen) assert.deepEqual(got, expected);
  });
}
