// The package against a real socketsvc node (python -m socketsvc serve), once per wire format.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ChatClient, connect, namespaceUrl, SocketsvcError } from "../dist/index.js";
import { nextEvent, reachState, startServer } from "./server.mjs";

let rooms = 0;
const room = () => `room-${process.pid}-${++rooms}`;

for (const format of ["json", "msgpack"]) {
  describe(`${format} server and client`, () => {
    let server;
    const clients = [];
    const client = (options = {}) => {
      const c = ChatClient.connect(server.url, { format, transports: ["websocket"], ...options });
      clients.push(c);
      return c;
    };

    before(async () => {
      server = await startServer({ serializer: format });
    });
    after(async () => {
      for (const c of clients) c.close();
      await server?.stop();
    });

    test("connects with the chosen parser and the token in the auth payload", async () => {
      const alice = client({ token: "t0ken" });
      await reachState(alice, "connected");
      assert.equal(alice.socket.connected, true);
      assert.deepEqual(alice.socket.auth, { token: "t0ken" });
      const parser = alice.socket.io.opts.parser;
      if (format === "msgpack") assert.equal(parser?.protocol, 5);
      else assert.equal(parser, undefined);
    });

    test("join, message, members and leave", async () => {
      const r = room();
      const alice = client();
      const bob = client();
      assert.deepEqual(await alice.join(r, "alice"), { room: r, members: ["alice"] });
      const joined = nextEvent(alice, "joined");
      assert.deepEqual(await bob.join(r, "bob"), { room: r, members: ["alice", "bob"] });
      assert.deepEqual(await joined, { room: r, name: "bob" });

      const incoming = nextEvent(alice, "message");
      const before = Date.now();
      const ack = await bob.send(r, "héllo <b>✓</b>");
      assert.match(ack.id, /^[0-9a-f]{32}$/);
      assert.ok(ack.ts >= before - 1000 && ack.ts <= Date.now() + 1000);
      assert.deepEqual(await incoming, { id: ack.id, room: r, name: "bob", text: "héllo <b>✓</b>", ts: ack.ts });

      const typing = nextEvent(alice, "typing");
      assert.equal(bob.typing(r), true);
      assert.deepEqual(await typing, { room: r, name: "bob" });

      assert.deepEqual(await alice.members(r), { room: r, members: ["alice", "bob"] });
      const left = nextEvent(alice, "left");
      assert.deepEqual(await bob.leave(r), { room: r });
      assert.deepEqual(await left, { room: r, name: "bob" });
      assert.deepEqual((await alice.members(r)).members, ["alice"]);
      assert.deepEqual([...bob.rooms], []);
      assert.deepEqual([...alice.rooms], [[r, "alice"]]);
    });

    test("server error acks reject with a typed SocketsvcError", async () => {
      const r = room();
      const alice = client();
      await assert.rejects(alice.send(r, "hi"), (err) => {
        assert.ok(err instanceof SocketsvcError);
        assert.ok(err instanceof Error);
        assert.equal(err.name, "SocketsvcError");
        assert.equal(err.code, "not_in_room");
        assert.equal(err.event, "message");
        assert.match(err.message, /join room/);
        return true;
      });
      await alice.join(r, "alice");
      await assert.rejects(alice.send(r, ""), { code: "invalid_payload", message: /'text'/ });
      await assert.rejects(alice.join(r, "x".repeat(33)), { code: "invalid_payload", message: /'name'/ });
      await assert.rejects(alice.members(`${r}-elsewhere`), { code: "not_in_room" });
      await assert.rejects(
        alice.request("leave", { room: 42 }), // what a JavaScript caller without types could send
        { name: "SocketsvcError", code: "invalid_payload" },
      );
    });

    test("a request without an answer rejects with code 'timeout'", async () => {
      const r = room();
      const alice = client({ requestTimeout: 300 });
      await alice.join(r, "alice");
      server.freeze();
      try {
        const started = Date.now();
        await assert.rejects(alice.send(r, "anyone?"), { name: "SocketsvcError", code: "timeout", event: "message" });
        const took = Date.now() - started;
        assert.ok(took >= 250 && took < 2000, `rejected after ${took} ms`);
      } finally {
        server.thaw();
      }
      // The same client still works once the server answers again.
      assert.deepEqual((await alice.members(r)).members, ["alice"]);
    });

    test("join can ask for the room's latest messages", async () => {
      const r = room();
      const alice = client();
      await alice.join(r, "alice");
      for (const text of ["one", "two", "three"]) await alice.send(r, text);
      const carol = client();
      const ack = await carol.join(r, "carol", { history: 2 });
      assert.deepEqual(ack.members, ["alice", "carol"]);
      assert.deepEqual(ack.history.map((m) => [m.name, m.text]), [["alice", "two"], ["alice", "three"]]);
    });

    test("a send retried after a lost ack is delivered once, with its first ack", async () => {
      const r = room();
      const alice = client({ requestTimeout: 400, sendRetries: 3 });
      const bob = client();
      await alice.join(r, "alice");
      await bob.join(r, "bob");
      const received = [];
      bob.on("message", (m) => received.push(m));
      server.freeze(); // the first attempts time out while the server is stopped
      const sent = alice.send(r, "exactly once");
      await new Promise((resolve) => setTimeout(resolve, 900));
      server.thaw();
      const ack = await sent;
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(received.length, 1);
      assert.equal(received[0].id, ack.id);
    });

    test("a dropped connection is recovered: no rejoin, no left or joined, nothing missed", async () => {
      const r = room();
      const alice = client({ reconnectionDelay: 50, reconnectionDelayMax: 100 });
      const bob = client();
      await alice.join(r, "alice");
      await bob.join(r, "bob");
      const seen = [];
      for (const event of ["joined", "left"]) bob.on(event, (m) => seen.push([event, m.name]));
      const rejoins = [];
      alice.onRejoin((result) => rejoins.push(result));
      const messages = [];
      alice.on("message", (m) => messages.push(m.text));
      alice.socket.io.engine.close(); // the network drops
      await reachState(alice, "reconnecting");
      await bob.send(r, "while you were away");
      await reachState(alice, "connected");
      assert.equal(alice.socket.recovered, true);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(messages, ["while you were away"]);
      assert.deepEqual(rejoins, []);
      assert.deepEqual(seen, []);
      assert.deepEqual((await bob.members(r)).members, ["alice", "bob"]);
    });

    test("a request while never connected rejects with 'timeout', and 'closed' after close()", async () => {
      const idle = client({ autoConnect: false, requestTimeout: 200 });
      assert.equal(idle.state, "offline");
      await assert.rejects(idle.members("r"), { code: "timeout" });
      const pending = idle.members("r");
      idle.close();
      await assert.rejects(pending, { code: "closed" });
    });
  });
}

describe("reconnection", () => {
  test("a restarted server is reconnected to and the rooms are rejoined", async () => {
    const server = await startServer({ serializer: "json" });
    const alice = ChatClient.connect(server.url, { reconnectionDelay: 100, reconnectionDelayMax: 300 });
    const bob = ChatClient.connect(server.url, { reconnectionDelay: 100, reconnectionDelayMax: 300 });
    try {
      const r = room();
      await alice.join(r, "alice");
      await bob.join(r, "bob");
      const states = [];
      alice.onState((s) => states.push(s));
      const rejoined = [];
      alice.onRejoin((result) => rejoined.push(result));

      await server.restart();
      await reachState(alice, "connected");
      await reachState(bob, "connected");
      assert.equal(states[0], "reconnecting");
      assert.equal(states.at(-1), "connected");
      assert.equal(rejoined.length, 1);
      assert.equal(rejoined[0].room, r);
      assert.equal(rejoined[0].error, undefined);

      const incoming = nextEvent(bob, "message");
      await alice.send(r, "back again");
      assert.equal((await incoming).text, "back again");
      assert.deepEqual((await bob.members(r)).members.sort(), ["alice", "bob"]);
    } finally {
      alice.close();
      bob.close();
      await server.stop();
    }
  });

  test("a request made while reconnecting waits for the rejoin instead of failing", async () => {
    const server = await startServer({ serializer: "msgpack" });
    const alice = ChatClient.connect(server.url, {
      format: "msgpack",
      reconnectionDelay: 100,
      reconnectionDelayMax: 300,
      requestTimeout: 8000,
    });
    try {
      const r = room();
      await alice.join(r, "alice");
      await server.stop();
      await reachState(alice, "reconnecting");
      const sent = alice.send(r, "queued");
      await server.start();
      const ack = await sent;
      assert.ok(ack.id);
    } finally {
      alice.close();
      await server.stop();
    }
  });
});

describe("connect()", () => {
  test("builds the namespace URL and defaults to json outside browsers", () => {
    assert.equal(namespaceUrl(undefined, "/chat"), "/chat");
    assert.equal(namespaceUrl("https://h.example:8443/", "/chat"), "https://h.example:8443/chat");
    assert.equal(namespaceUrl("http://h/some/path?x=1", "chat"), "http://h/chat?x=1");
    const socket = connect("http://127.0.0.1:9", { autoConnect: false, token: "abc", auth: { extra: 1 } });
    assert.equal(socket.nsp, "/chat");
    assert.deepEqual(socket.auth, { extra: 1, token: "abc" });
    assert.equal(socket.io.opts.parser, undefined);
    assert.equal(socket.io.reconnectionDelayMax(), 5000);
    assert.throws(() => connect("http://127.0.0.1:9", { format: "xml", autoConnect: false }), TypeError);
  });
});
