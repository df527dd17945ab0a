// Stock socket.io-client driven by the security tests: connect once, report what a browser
// app would see, run optional acked emits, print one JSON line, exit. Bounded by a timeout.
//   node sio_client.mjs '<json options>'
// options: {url, namespace, auth?, parser?: "json"|"msgpack", transports?, extraHeaders?,
//           calls?: [[event, payload], ...], timeoutMs?}
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../../clients/js/package.json"));
const { io } = require("socket.io-client");

const opts = JSON.parse(process.argv[2]);
const clientOpts = {
  auth: opts.auth ?? {},
  transports: opts.transports ?? ["polling", "websocket"],
  reconnection: false,
  timeout: 3000,
  extraHeaders: opts.extraHeaders ?? {},
};
if (opts.parser === "msgpack") clientOpts.parser = require("socket.io-msgpack-parser");

const out = (result) => {
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
};
const timer = setTimeout(() => out({ event: "timeout" }), opts.timeoutMs ?? 8000);
const socket = io(opts.url + (opts.namespace ?? "/"), clientOpts);

socket.on("connect_error", (err) => {
  clearTimeout(timer);
  out({ event: "connect_error", message: err.message, code: err.data?.code ?? null });
});
socket.on("connect", async () => {
  const acks = [];
  for (const [event, payload] of opts.calls ?? []) {
    acks.push(await socket.timeout(3000).emitWithAck(event, payload));
  }
  clearTimeout(timer);
  socket.disconnect();
  out({ event: "connect", acks });
});
