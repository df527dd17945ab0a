// The stock npm socket.io-client against a running socketsvc: the /chat contract, handler
// modules loaded from config, error acks, acks both ways, binary, and the protocol details that
// stock python-socketio gets wrong (undefined, disconnect reason, unknown namespace).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { connect, next, silence, request, settled, TRANSPORT } from "./client.mjs";

const sockets = [];
async function open(namespace, extra) {
  const socket = await connect(namespace, extra);
  sockets.push(socket);
  await settled(socket);
  return socket;
}
after(() => sockets.forEach((s) => s.close()));

test("chat: join, message, members, typing, leave", async () => {
  const alice = await open("/chat");
  const bob = await open("/chat");
  assert.deepEqual(await request(alice, "join", { room: "js", name: "alice" }), { room: "js", members: ["alice"] });
  const joined = next(alice, "joined");
  assert.deepEqual(await request(bob, "join", { room: "js", name: "bob" }), { room: "js", members: ["alice", "bob"] });
  assert.deepEqual(await joined, { room: "js", name: "bob" });

  const incoming = next(bob, "message");
  const ack = await request(alice, "message", { room: "js", text: "hi bob 👋" });
  assert.equal(typeof ack.id, "string");
  assert.ok(Math.abs(ack.ts - Date.now()) < 60_000);
  assert.deepEqual(await incoming, { id: ack.id, room: "js", name: "alice", text: "hi bob 👋", ts: ack.ts });

  const typing = next(bob, "typing");
  alice.emit("typing", { room: "js" });
  assert.deepEqual(await typing, { room: "js", name: "alice" });

  const left = next(alice, "left");
  assert.deepEqual(await request(bob, "leave", { room: "js" }), { room: "js" });
  assert.deepEqual(await left, { room: "js", name: "bob" });
  assert.deepEqual(await request(alice, "members", { room: "js" }), { room: "js", members: ["alice"] });
});

test("chat: error acks carry a code and a message", async () => {
  const carol = await open("/chat");
  const notJoined = await request(carol, "message", { room: "nowhere", text: "x" });
  assert.equal(notJoined.error.code, "not_in_room");
  const invalid = await request(carol, "join", { room: "r", name: "" });
  assert.equal(invalid.error.code, "invalid_payload");
  assert.match(invalid.error.message, /'name'/);
  const unknown = await request(carol, "dance", {});
  assert.equal(unknown.error.code, "unknown_event");
  const privateMethod = await request(carol, "_name_in", "x", "y");
  assert.equal(privateMethod.error.code, "unknown_event");
});

test("a handler exception answers internal without a traceback", async () => {
  const socket = await open("/test");
  assert.deepEqual(await request(socket, "boom"), { error: { code: "internal", message: "internal server error" } });
  assert.equal(await request(socket, "ack-echo", "still here"), "still here");
});

test("acks both ways", async () => {
  const socket = await open("/test");
  socket.on("question", (data, callback) => callback({ got: data }));
  assert.deepEqual(await request(socket, "ask", 2), { answer: { got: { q: 1 } } });
});

test("binary: Buffer in, bytes back", async () => {
  const socket = await open("/test");
  const blob = Buffer.from([0, 1, 2, 250, 255]);
  const reply = await request(socket, "bytes", blob);
  assert.equal(reply.size, 5);
  assert.deepEqual(Buffer.from(reply.reversed), Buffer.from([255, 250, 2, 1, 0]));
});

test("undefined arrives as absent, in auth and in event data", async () => {
  const socket = await open("/test", { auth: { token: "t", extra: undefined } });
  assert.deepEqual(await request(socket, "auth"), { token: "t" });
  assert.deepEqual(await request(socket, "ack-echo", { a: 1, b: undefined, list: [1, undefined] }), { a: 1, list: [1, null] });
  const anonymous = await open("/test");
  assert.deepEqual(await request(anonymous, "auth"), {});
});

test("connect refusals are readable connect_errors", async () => {
  await assert.rejects(connect("/nowhere"), (err) => err.message === "Invalid namespace");
  await assert.rejects(connect("/test", { auth: { refuse: true } }), (err) => {
    assert.equal(err.message, "go away");
    assert.deepEqual(err.data, { code: "refused" });
    return true;
  });
});

test("server-side disconnect reaches the client as 'io server disconnect'", async () => {
  const socket = await open("/test");
  const reason = new Promise((resolve) => socket.once("disconnect", resolve));
  socket.emit("kick");
  assert.equal(await reason, "io server disconnect");
  assert.equal(socket.active, false);
});

test("pattern namespace: each concrete namespace has its own handler", async () => {
  const a = await open("/workspace/a");
  const b = await open("/workspace/b");
  assert.equal(await request(a, "where"), "/workspace/a");
  assert.equal(await request(b, "where"), "/workspace/b");
});

test(`several namespaces share one ${TRANSPORT} connection`, async () => {
  const chat = await open("/chat", { forceNew: false });
  const echo = await open("/test", { forceNew: false });
  assert.equal(chat.io, echo.io);
  assert.equal(await request(echo, "ack-echo", 7), 7);
  assert.equal((await request(chat, "members", { room: "none" })).error.code, "not_in_room");
});

test("no echo to the sender", async () => {
  const dave = await open("/chat");
  await request(dave, "join", { room: "solo", name: "dave" });
  const quiet = silence(dave, "message");
  await request(dave, "message", { room: "solo", text: "alone" });
  assert.ok(await quiet);
});
