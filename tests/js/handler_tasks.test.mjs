// Handlers run inside asyncio tasks of their own: what the stock npm socket.io-client sees of
// asyncio.timeout, server->client call() and contextvars in handlers of the /tasks namespace.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { connect, request, settled } from "./client.mjs";

const sockets = [];
async function open(extra) {
  const socket = await connect("/tasks", extra);
  sockets.push(socket);
  await settled(socket);
  return socket;
}
after(() => sockets.forEach((s) => s.close()));

test("asyncio.timeout as a handler's first statement", async () => {
  const socket = await open();
  assert.deepEqual(await request(socket, "timed", 7), { in_task: true, value: 7 });
  assert.equal(await request(socket, "deadline", 0.05), "timed out");
});

test("call() as a handler's first await reaches this client and returns its answer", async () => {
  const socket = await open();
  socket.on("question", (question, answer) => answer({ echoed: question }));
  assert.deepEqual(await request(socket, "ask", "why?"), { answer: { echoed: "why?" } });
});

test("a context variable set in one event is unset in the next and in other connections", async () => {
  const alice = await open();
  const bob = await open();
  assert.deepEqual(await request(alice, "remember", "alice-1"), { before: null });
  assert.deepEqual(await request(alice, "recall"), { before: null });
  assert.deepEqual(await request(alice, "remember", "alice-2"), { before: null });
  assert.deepEqual(await request(bob, "recall"), { before: null });
});

test("the built-in ConnectionRefusedError reaches the client as its message", async () => {
  await assert.rejects(connect("/tasks", { auth: { refuse: ["no entry"] } }), (err) => {
    assert.equal(err.message, "no entry");
    return true;
  });
  await assert.rejects(connect("/tasks", { auth: { refuse: ["closed today", { code: "closed" }] } }), (err) => {
    assert.equal(err.message, "closed today");
    assert.deepEqual(err.data, { code: "closed" });
    return true;
  });
});
