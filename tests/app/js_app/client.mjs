// An app's plain JavaScript (no build step) on the installed @socketsvc/client: two bidders on
// the auction of `socketsvc new`, one per wire format. Prints one JSON line per step for
// tests/app/test_js_package.py. Usage: node client.mjs URL
import { NamespaceClient, SocketsvcError } from "@socketsvc/client";

const url = process.argv[2];
const say = (step, value) => console.log(JSON.stringify({ step, value }));
const open = (format) =>
  NamespaceClient.connect(url, { namespace: "/auction", format, transports: ["websocket"], requestTimeout: 5000 });
const code = (promise) =>
  promise.then(
    () => "resolved",
    (error) => (error instanceof SocketsvcError ? `${error.code}: ${error.message}` : String(error)),
  );
const next = (client, event) => new Promise((resolve) => { const off = client.on(event, (v) => { off(); resolve(v); }); });
const state = (client, wanted) => new Promise((resolve) => { const off = client.onState((s) => { if (s === wanted) { off(); resolve(s); } }); });

const ada = open("json");
const bob = open("msgpack");
try {
  say("watch", await ada.keep("watch", "A-1"));
  await bob.keep("watch", "A-1");
  say("bid", await ada.request("bid", { lot: "A-1", amount: "12.50" }).then((b) => b.amount));
  say("outbid", await code(bob.request("bid", { lot: "A-1", amount: 12 })));
  say("invalid", await code(bob.request("bid", { lot: "A-1", amount: -1 })));
  say("unknown", await code(bob.request("buy", "A-1")));
  // the connection drops; the server forgets its rooms; the client watches A-1 again
  const rejoined = new Promise((resolve) => bob.onRejoin(resolve));
  const back = state(bob, "connected");
  bob.socket.io.engine.close();
  const result = await rejoined;
  say("rejoined", { key: result.key, event: result.event, args: result.args, best: result.reply.amount });
  await back;
  const leading = next(bob, "leading");
  await ada.request("bid", { lot: "A-1", amount: 20 });
  say("leading after the reconnect", (await leading).amount);
  say("forgotten", bob.forget("watch", "A-1") && bob.kept.size);
  bob.close();
  say("closed", await code(bob.request("watch", "A-2")));
} finally {
  ada.close();
  bob.close();
}
