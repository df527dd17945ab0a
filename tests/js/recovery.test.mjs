// Connection-state recovery with the stock npm socket.io-client (4.8), as socket.io 4.6+ defines
// it: the client keeps its pid and last offset, and a reconnect within the window restores the
// session (same id, rooms, session data) and delivers what it missed, in order.
//
// Environment (set by tests/sio/test_recovery.py): SOCKETSVC_URL (default recovery settings),
// SHORT_WINDOW_URL (a 1 s window), SMALL_LOG_URL (3 packets kept), PARSER, TRANSPORT.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { request } from "./client.mjs";
import { closeAll, collect, comeBack, open, until } from "./recovering.mjs";

after(closeAll);

/** Cut the transport under the client, as a network change would. */
async function drop(socket) {
  const gone = new Promise((resolve) => socket.once("disconnect", resolve));
  socket.io.engine.close();
  await gone; // the client says "forced close"; to the server its transport closed
}

test("a dropped client gets its session back and what it missed, in order", async () => {
  const alice = await open();
  const bob = await open();
  await request(alice, "enter", "room1");
  await request(alice, "keep", { cart: [1, 2] });
  const news = collect(alice);
  await request(bob, "tell", "room1", "before");
  await until(() => news.length === 1);
  const id = alice.id;

  await drop(alice);
  for (const n of [1, 2, 3]) await request(bob, "tell", "room1", `missed ${n}`);
  await request(bob, "tell", id, "to alice alone");
  await comeBack(alice);

  assert.equal(alice.recovered, true);
  assert.equal(alice.id, id);
  await until(() => news.length === 5);
  assert.deepEqual(news.map((args) => args[0]), ["before", "missed 1", "missed 2", "missed 3", "to alice alone"]);
  for (const args of news) {
    assert.equal(args.length, 2);
    assert.equal(typeof args[1], "string"); // the offset
  }
  assert.equal(new Set(news.map((args) => args[1])).size, 5);
  const state = await request(alice, "state");
  assert.deepEqual(state, { sid: id, recovered: true, rooms: ["room1"], kept: { cart: [1, 2] } });
  // the room came back without a join
  await request(bob, "tell", "room1", "after");
  await until(() => news.length === 6);
  assert.equal(news[5][0], "after");
});

test("a client that had received nothing yet is recovered from its session's start", async () => {
  const carol = await open();
  const bob = await open();
  await request(carol, "enter", "room2");
  const news = collect(carol);
  await drop(carol);
  await request(bob, "tell", "room2", "while away");
  await comeBack(carol);
  assert.equal(carol.recovered, true);
  await until(() => news.length === 1);
  assert.equal(news[0][0], "while away");
});

test("acks and volatile packets are not replayed; the sender is skipped as at first", async () => {
  const dave = await open();
  const bob = await open();
  await request(dave, "enter", "room3");
  await request(bob, "enter", "room3");
  const news = collect(dave);
  const bobNews = collect(bob);
  await drop(dave);
  await request(bob, "flash", "room3", "volatile");
  await request(bob, "poll", dave.id, "wants an ack");
  await request(bob, "tell_others", "room3", "stored");
  await comeBack(dave);
  assert.equal(dave.recovered, true);
  await until(() => news.length >= 1);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(news.map((args) => args[0]), ["stored"]);
  assert.deepEqual(bobNews.map((args) => args[0]), ["volatile"]);
});

test("a client back after the window connects fresh", { skip: !process.env.SHORT_WINDOW_URL }, async () => {
  const erin = await open(process.env.SHORT_WINDOW_URL);
  const bob = await open(process.env.SHORT_WINDOW_URL);
  await request(erin, "enter", "room4");
  const id = erin.id;
  const news = collect(erin);
  await drop(erin);
  await request(bob, "tell", "room4", "lost");
  await new Promise((r) => setTimeout(r, 1500));
  await comeBack(erin);
  assert.equal(erin.recovered, false);
  assert.notEqual(erin.id, id);
  assert.deepEqual((await request(erin, "state")).rooms, []);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(news, []);
});

test("a client that missed more than is kept connects fresh", { skip: !process.env.SMALL_LOG_URL }, async () => {
  const fay = await open(process.env.SMALL_LOG_URL);
  const bob = await open(process.env.SMALL_LOG_URL);
  await request(fay, "enter", "room5");
  const news = collect(fay);
  await request(bob, "tell", "room5", "seen");
  await until(() => news.length === 1);
  await drop(fay);
  for (const n of [1, 2, 3, 4]) await request(bob, "tell", "room5", `overflow ${n}`);
  await comeBack(fay);
  assert.equal(fay.recovered, false);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(news.length, 1);
});
