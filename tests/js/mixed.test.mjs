// One JSON-parser client and one msgpack-parser client on the same server, in the same room.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { connect, next, request, settled } from "./client.mjs";

const sockets = [];
async function open(namespace, parser, extra = {}) {
  const socket = await connect(namespace, extra, parser);
  sockets.push(socket);
  await settled(socket);
  return socket;
}
after(() => sockets.forEach((s) => s.close()));

test("json and msgpack clients chat in one room", async () => {
  const j = await open("/chat", "json");
  const m = await open("/chat", "msgpack");
  await request(j, "join", { room: "mixed", name: "json-user" });
  assert.deepEqual((await request(m, "join", { room: "mixed", name: "msgpack-user" })).members, ["json-user", "msgpack-user"]);
  const toM = next(m, "message");
  await request(j, "message", { room: "mixed", text: "from json ✓" });
  assert.equal((await toM).text, "from json ✓");
  const toJ = next(j, "message");
  await request(m, "message", { room: "mixed", text: "from msgpack ✓" });
  assert.equal((await toJ).text, "from msgpack ✓");
});

test("values cross formats unchanged, both directions", async () => {
  const j = await open("/test", "json");
  const m = await open("/test", "msgpack");
  await request(j, "enter", "relay-room");
  await request(m, "enter", "relay-room");
  const payload = {
    bytes: Buffer.from([0, 1, 254, 255]),
    int: 2 ** 53 - 1,
    negative: -(2 ** 31),
    float: 0.1,
    unicode: "zażółć 🧪 \u0000 end",
    nested: { a: [1, { b: [null, true, false, "x"] }], empty: {}, list: [] },
    nothing: null,
  };
  for (const [from, to] of [[j, m], [m, j]]) {
    const got = next(to, "relay");
    assert.equal(await request(from, "relay", "relay-room", payload), "relayed");
    const value = await got;
    assert.deepEqual(Buffer.from(value.bytes), payload.bytes);
    assert.deepEqual({ ...value, bytes: null }, { ...payload, bytes: null });
  }
});

test("a JS Date from a msgpack client arrives as its JSON string", async () => {
  const j = await open("/test", "json");
  const m = await open("/test", "msgpack");
  await request(j, "enter", "dates");
  await request(m, "enter", "dates");
  const got = next(j, "relay");
  const when = new Date(Date.UTC(2026, 10, 28, 4, 5, 6, 789));
  await request(m, "relay", "dates", { when });
  assert.deepEqual(await got, { when: when.toJSON() });
});

test("what a JSON client cannot hold is refused, not rounded", async () => {
  const j = await open("/test", "json");
  const big = await request(j, "produce", "big");
  assert.equal(big.error.code, "unencodable");
  assert.match(big.error.message, /2\*\*53/);
  assert.equal(await request(j, "produce", "max_safe"), 2 ** 53 - 1);
  assert.equal((await request(j, "produce", "nan")).error.code, "unencodable");
  const m = await open("/test", "msgpack");
  assert.equal(await request(m, "produce", "big"), 2 ** 60);
});
