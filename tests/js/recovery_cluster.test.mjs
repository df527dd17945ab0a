// Connection-state recovery across nodes: the stock npm socket.io-client reaches node A through a
// TCP proxy (a load balancer's stand-in); the proxy then sends it to node B, as a balancer does
// when A drops the connection or dies, and the client is recovered there.
//
// Environment (set by tests/scaleout/test_recovery_cluster.py): NODE_A (a node that stays up),
// NODE_K (a node this script kills with SIGKILL, pid KILL_PID), NODE_B (the other node), all
// http://host:port; PARSER, TRANSPORT.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { request } from "./client.mjs";
import { closeAll, collect, comeBack, open, until } from "./recovering.mjs";

const CROSSING = 8000; // ms: a packet may cross two nodes and Redis
const proxies = [];
after(() => {
  closeAll();
  proxies.forEach((p) => p.close());
});

/** A TCP proxy to `url`'s port; `switchTo(url)` cuts every connection and sends new ones there. */
async function proxy(url) {
  let target = new URL(url);
  const open = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    open.add(client);
    open.add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => { client.destroy(); upstream.destroy(); open.delete(client); open.delete(upstream); };
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", close);
    upstream.on("close", close);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const p = {
    url: `http://127.0.0.1:${server.address().port}`,
    switchTo(next) {
      target = new URL(next);
      for (const socket of open) socket.destroy();
    },
    close() { server.close(); for (const socket of open) socket.destroy(); },
  };
  proxies.push(p);
  return p;
}

async function scenario(nodeUrl, room, cut) {
  const balancer = await proxy(nodeUrl);
  const alice = await open(balancer.url);
  const bob = await open(process.env.NODE_B);
  await request(alice, "enter", room);
  await request(alice, "keep", { step: 1 });
  const news = collect(alice);
  await request(bob, "tell", room, "before");
  await until(() => news.length === 1, CROSSING); // crossed from B to A
  const id = alice.id;

  const gone = new Promise((resolve) => alice.once("disconnect", resolve));
  await cut(balancer);
  await gone;
  for (const n of [1, 2, 3]) await request(bob, "tell", room, `missed ${n}`);
  await comeBack(alice); // through the balancer, now to node B

  assert.equal(alice.recovered, true);
  assert.equal(alice.id, id);
  await until(() => news.length === 4, CROSSING);
  assert.deepEqual(news.map((a) => a[0]), ["before", "missed 1", "missed 2", "missed 3"]);
  assert.deepEqual(await request(alice, "state"), { sid: id, recovered: true, rooms: [room], kept: { step: 1 } });
  await request(bob, "tell", room, "after");
  await until(() => news.length === 5, CROSSING);
  assert.equal(news[4][0], "after");
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(news.length, 5); // nothing twice
}

test("a client its node dropped is recovered on the other node", async () => {
  await scenario(process.env.NODE_A, "graceful", async (balancer) => {
    balancer.switchTo(process.env.NODE_B);
  });
});

test("a client whose node was killed is recovered on the other node", async () => {
  await scenario(process.env.NODE_K, "crash", async (balancer) => {
    process.kill(Number(process.env.KILL_PID), "SIGKILL");
    balancer.switchTo(process.env.NODE_B);
  });
});

test("a client recovered twice, back and forth between nodes, keeps getting everything", async () => {
  const balancer = await proxy(process.env.NODE_A);
  const alice = await open(balancer.url);
  const bob = await open(process.env.NODE_B);
  await request(alice, "enter", "twice");
  const news = collect(alice);
  const id = alice.id;
  for (const [to, label] of [[process.env.NODE_B, "on B"], [process.env.NODE_A, "back on A"]]) {
    const gone = new Promise((resolve) => alice.once("disconnect", resolve));
    balancer.switchTo(to);
    await gone;
    await request(bob, "tell", "twice", `missed ${label}`);
    await comeBack(alice);
    assert.equal(alice.recovered, true);
    assert.equal(alice.id, id);
    await request(bob, "tell", "twice", `live ${label}`);
  }
  await until(() => news.length === 4, CROSSING);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(news.map((a) => a[0]), ["missed on B", "live on B", "missed back on A", "live back on A"]);
});
