// Half of the four-client room test (tests/e2e/test_four_clients.py): two stock npm clients, one
// per parser, join /chat room "four" and /test room "four" next to two python-socketio clients.
// Protocol with pytest on stdio: print "ready", wait for "go", check what the python clients
// sent, send our own, print "done".
import { createInterface } from "node:readline";
import assert from "node:assert/strict";
import { connect, next, request } from "./client.mjs";

const lines = createInterface({ input: process.stdin });
const waitFor = (word) => new Promise((resolve) => lines.on("line", (l) => l.trim() === word && resolve()));

const clients = [];
for (const parser of ["json", "msgpack"]) {
  const chat = await connect("/chat", { forceNew: true }, parser);
  const test = await connect("/test", { forceNew: true }, parser);
  const name = `js-${parser}`;
  await request(chat, "join", { room: "four", name });
  await request(test, "enter", "four");
  const chatIn = [], binIn = [];
  chat.on("message", (m) => chatIn.push(m));
  test.on("relay", (p) => binIn.push(p));
  clients.push({ parser, name, chat, test, chatIn, binIn });
}
const go = waitFor("go");
console.log("ready");
await go;

const until = async (check) => {
  for (let i = 0; i < 250 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(check());
};
for (const c of clients) {
  await until(() => c.chatIn.length >= 2 && c.binIn.length >= 2);
  const texts = c.chatIn.map((m) => `${m.name}:${m.text}`).sort();
  assert.deepEqual(texts, ["py-json:hello from py-json", "py-msgpack:hello from py-msgpack"]);
  const blobs = c.binIn.map((p) => `${p.from}:${Buffer.from(p.blob).toString("hex")}`).sort();
  assert.deepEqual(blobs, ["py-json:00017079ff", "py-msgpack:00017079ff"]);
}
for (const c of clients) {
  await request(c.chat, "message", { room: "four", text: `hello from ${c.name}` });
  assert.equal(await request(c.test, "relay", "four", { from: c.name, blob: Buffer.from([0, 1, 0x6a, 0x73, 0xff]) }), "relayed");
}
console.log("done");
clients.forEach((c) => { c.chat.close(); c.test.close(); });
process.exit(0);
