// Stock npm socket.io-client against `socketsvc serve --workers 2` on one port: clients land on
// both workers, and rooms, acks, calls, cluster requests and recovery work across them.
//
// Environment (set by tests/workers/test_clients.py): SOCKETSVC_URL (the machine's one port),
// TRANSPORT (websocket | polling | upgrade). Every case runs for both parsers.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { io, options, request, settled, URL_ } from "./client.mjs";

const NS = "/machine";
const PARSERS = ["json", "msgpack"];
const opened = [];
after(() => opened.forEach((s) => s.close()));

async function open(parser) {
  const socket = io(URL_ + NS, options({}, parser));
  opened.push(socket);
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  await settled(socket);
  return socket;
}

/** Clients of `parser` until at least two are on each of the two workers (at most 40). */
async function spread(parser) {
  const byPid = new Map();
  const clients = [];
  while ([...byPid.values()].filter((n) => n >= 2).length < 2) {
    assert.ok(clients.length < 40, `every client landed on one worker: ${[...byPid.keys()]}`);
    const socket = await open(parser);
    socket.pid = await request(socket, "where");
    byPid.set(socket.pid, (byPid.get(socket.pid) ?? 0) + 1);
    clients.push(socket);
  }
  return clients;
}

async function until(condition, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const parser of PARSERS) {
  test(`${parser}: clients on both workers, every ack answered`, async () => {
    const clients = await spread(parser);
    const answers = await Promise.all(clients.map((c) => request(c, "where")));
    assert.deepEqual(answers, clients.map((c) => c.pid)); // each stays on its worker
    assert.equal(new Set(answers).size, 2);
  });

  test(`${parser}: a room broadcast reaches clients on every worker, in order`, async () => {
    const clients = await spread(parser);
    const room = `room-${parser}`;
    await Promise.all(clients.map((c) => request(c, "enter", room)));
    const seen = clients.map((c) => {
      const got = [];
      c.on("news", (payload) => got.push(payload));
      c.on("shout", (payload) => got.push(payload));
      return got;
    });
    const [a] = clients;
    const b = clients.find((c) => c.pid !== a.pid);
    for (let n = 0; n < 5; n++) await request(n % 2 ? b : a, "tell", room, `stored ${n}`);
    await request(b, "shout", room, "volatile");
    await until(() => seen.every((got) => got.length === 6));
    const stored = ["stored 0", "stored 1", "stored 2", "stored 3", "stored 4"];
    for (const got of seen) assert.deepEqual(got.filter((p) => p !== "volatile"), stored);
  });

  test(`${parser}: the server calls a client on another worker and gets its ack`, async () => {
    const clients = await spread(parser);
    const [a] = clients;
    const b = clients.find((c) => c.pid !== a.pid);
    b.on("question", (question, ack) => ack({ answer: 42, asked: question.from }));
    assert.deepEqual(await request(a, "ask", b.id), { answer: 42, asked: a.id });
  });

  test(`${parser}: fetch_sockets and server-side calls reach every worker`, async () => {
    const clients = await spread(parser);
    const room = `count-${parser}`;
    await Promise.all(clients.map((c) => request(c, "enter", room)));
    assert.deepEqual(await request(clients[0], "count", room), clients.map((c) => c.id).sort());
    const pids = [...new Set(clients.map((c) => c.pid))].sort((x, y) => x - y);
    assert.deepEqual(await request(clients[0], "pids"), pids);
  });

  test(`${parser}: a client that drops is recovered by another worker`, async () => {
    const clients = await spread(parser);
    const room = `recover-${parser}`;
    await Promise.all(clients.map((c) => request(c, "enter", room)));
    const [alice] = clients;
    const bob = clients.find((c) => c.pid !== alice.pid);
    const id = alice.id;
    const news = [];
    alice.on("news", (payload) => news.push(payload));
    const first = alice.pid;
    let where = first;
    for (let attempt = 0; where === first; attempt++) {
      assert.ok(attempt < 12, "every reconnect landed on the same worker");
      const gone = new Promise((resolve) => alice.once("disconnect", resolve));
      alice.io.engine.close(); // the transport drops, as a network would drop it
      await gone;
      await request(bob, "tell", room, `missed ${attempt}`);
      const back = new Promise((resolve, reject) => {
        alice.once("connect", resolve);
        alice.once("connect_error", reject);
      });
      alice.connect();
      await back;
      await settled(alice);
      assert.equal(alice.recovered, true);
      assert.equal(alice.id, id);
      where = await request(alice, "where");
      await until(() => news.length === attempt + 1);
    }
    assert.deepEqual(news, news.map((_, n) => `missed ${n}`)); // each once, in order
    assert.deepEqual(await request(alice, "state"), { sid: id, recovered: true, rooms: [room] });
    await request(bob, "tell", room, "after");
    await until(() => news.at(-1) === "after");
  });
}
