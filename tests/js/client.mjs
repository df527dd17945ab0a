// Shared helpers for the Node-driven interop tests: the stock npm socket.io-client, configured
// from the environment that pytest sets (server URL, parser, transports).
import { createRequire } from "node:module";

const require = createRequire(new URL("../../clients/js/package.json", import.meta.url));
export const { io } = require("socket.io-client");
const msgpackParser = require("socket.io-msgpack-parser");

export const URL_ = process.env.SOCKETSVC_URL;
export const PARSER = process.env.PARSER ?? "json";
export const TRANSPORT = process.env.TRANSPORT ?? "websocket";

const TRANSPORTS = {
  websocket: ["websocket"],
  polling: ["polling"],
  upgrade: ["polling", "websocket"],
};

/** Options for one client; `parser` overrides the environment's (mixed-format tests). */
export function options(extra = {}, parser = PARSER) {
  const opts = { transports: TRANSPORTS[TRANSPORT], forceNew: true, reconnection: false, ...extra };
  if (parser === "msgpack") opts.parser = msgpackParser;
  return opts;
}

/** Connect and resolve once connected; reject with the connect_error. */
export function connect(namespace, extra = {}, parser = PARSER) {
  const socket = io(URL_ + namespace, options(extra, parser));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("connect timeout")), 5000);
    socket.once("connect", () => { clearTimeout(timer); resolve(socket); });
    socket.once("connect_error", (err) => { clearTimeout(timer); socket.close(); reject(err); });
  });
}

/** Resolve with the next `event` on `socket`, or reject after `ms`. */
export function next(socket, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms}ms`)), ms);
    socket.once(event, (...args) => { clearTimeout(timer); resolve(args.length === 1 ? args[0] : args); });
  });
}

/** Resolve true if no `event` arrives within `ms`. */
export function silence(socket, event, ms = 300) {
  return new Promise((resolve, reject) => {
    const handler = (data) => reject(new Error(`unexpected ${event}: ${JSON.stringify(data)}`));
    socket.once(event, handler);
    setTimeout(() => { socket.off(event, handler); resolve(true); }, ms);
  });
}

export function request(socket, event, ...args) {
  return socket.timeout(5000).emitWithAck(event, ...args);
}

/** Wait for the server-side transport upgrade when testing polling→websocket. */
export async function settled(socket) {
  if (TRANSPORT !== "upgrade") return;
  const engine = socket.io.engine;
  if (engine.transport.name === "websocket") return;
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no upgrade within 5s")), 5000);
    engine.once("upgrade", () => { clearTimeout(timer); resolve(); });
  });
}
