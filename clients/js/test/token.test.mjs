// getToken against a real socketsvc node whose tokens expire: the client refreshes on the live
// connection, gets a fresh token before reconnecting and after a token_expired refusal, and ends
// the session plainly ("expired") when no fresh token can be had.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ChatClient, SESSION_EXPIRED, tokenSession } from "../dist/index.js";
import { reachState, signToken, startServer, until } from "./server.mjs";

const SECRET = "s3cret-for-tests-only-0123456789abcdef";
const LEEWAY = 1; // --jwt-leeway
const token = (claims) =>
  signToken({ sub: "u-1", name: "Ada", iat: Math.floor(Date.now() / 1000), ...claims }, SECRET);
const inSeconds = (s) => Math.floor(Date.now() / 1000) + s;

/** getToken that hands out `tokens` in turn, then repeats the last; counts its calls. */
function tokens(...list) {
  const source = () => {
    source.calls += 1;
    return list[Math.min(source.calls, list.length) - 1];
  };
  source.calls = 0;
  return source;
}

for (const format of ["json", "msgpack"]) {
  describe(`${format}: tokens that expire`, () => {
    let server;
    const clients = [];
    const client = (getToken) => {
      const c = ChatClient.connect(server.url, { format, transports: ["websocket"], getToken });
      clients.push(c);
      return c;
    };

    before(async () => {
      server = await startServer({
        serializer: format,
        args: ["--auth", "required", "--jwt-secret", SECRET, "--jwt-leeway", String(LEEWAY),
          "--token-refresh-notice", "2"],
      });
    });
    after(async () => {
      for (const c of clients) c.close();
      await server?.stop();
    });

    test("a session is refreshed on the live connection; one without a fresh token expires", async () => {
      const exp1 = inSeconds(4);
      const fresh = client(tokens(token({ exp: exp1 }), token({ exp: inSeconds(60) })));
      let signedIn = token({ exp: exp1 }); // the app's own token store, as a user signs in
      const stale = client(() => signedIn);
      let connects = 0;
      fresh.socket.on("connect", () => connects++);
      const expired = new Promise((resolve) => stale.onState((state, error) => state === "expired" && resolve(error)));
      await Promise.all([reachState(fresh, "connected"), reachState(stale, "connected")]);
      await fresh.join("r-" + format, "ignored");

      const error = await expired; // the server closed it at exp + leeway
      assert.equal(error.code, SESSION_EXPIRED);
      assert.equal(stale.state, "expired");
      assert.equal(stale.socket.connected, false);
      assert.ok(Date.now() >= (exp1 + LEEWAY) * 1000);

      await until(() => Date.now() > (exp1 + LEEWAY) * 1000 + 300, 10000, "the first expiry passing");
      assert.equal(fresh.state, "connected");
      assert.equal(connects, 1); // refreshed in place, never reconnected
      assert.ok(tokenSession(fresh.socket).expires > exp1 + 30);
      assert.match((await fresh.send("r-" + format, "still here")).id, /^[0-9a-f]{32}$/);

      // the user signs in again: the expired client connects with what getToken gives now
      signedIn = token({ exp: inSeconds(60) });
      stale.socket.connect();
      await reachState(stale, "connected");
      assert.equal(tokenSession(stale.socket).token, signedIn);
    });

    test("a token_expired refusal is retried once with a fresh token, then ends the session", async () => {
      const retried = tokens(token({ exp: inSeconds(-60) }), token({ exp: inSeconds(60) }));
      const recovered = client(retried);
      await reachState(recovered, "connected");
      assert.equal(retried.calls, 2);

      const hopeless = client(tokens(token({ exp: inSeconds(-60) })));
      const error = await new Promise((resolve) =>
        hopeless.onState((state, err) => state === "expired" && resolve(err)),
      );
      assert.equal(error.code, SESSION_EXPIRED);
      assert.equal(hopeless.socket.active, false); // no endless retries
    });
  });
}
