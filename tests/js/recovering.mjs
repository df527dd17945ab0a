// Helpers shared by the connection-state recovery tests (recovery.test.mjs on one node,
// recovery_cluster.test.mjs across nodes): stock clients of /recovering that reconnect when the
// test says so, as an app's would.
import { io, options, settled, URL_ } from "./client.mjs";

export const NS = "/recovering";
const opened = [];

/** A connected stock client of /recovering at `base`; closed by `closeAll`. */
export async function open(base = URL_, extra = {}) {
  const socket = io(base + NS, options(extra));
  opened.push(socket);
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  await settled(socket);
  return socket;
}

export function closeAll() {
  opened.forEach((s) => s.close());
}

/** Every `news` event of `socket`, with all its arguments (the offset is the last). */
export function collect(socket) {
  const seen = [];
  socket.on("news", (...args) => seen.push(args));
  return seen;
}

/** Reconnect, with the pid and last offset the client kept (what its auto-reconnect does). */
export async function comeBack(socket) {
  const back = new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  socket.connect();
  await back;
  await settled(socket);
}

/** Wait until `condition()` holds, polling every 10 ms, at most `ms`. */
export async function until(condition, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
