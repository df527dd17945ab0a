// Stock socket.io-client sockets, each following a script of steps, run side by side; prints one
// JSON line with what each socket saw, then exits. Bounded by a timeout.
//   node token_client.mjs '<json options>'
// options: {url, parser?: "json"|"msgpack", transports?, timeoutMs?, announce?,
//           sockets: [{name, namespace, token?, url?, steps: [step, ...]}]}
// With `announce`, a line {"connected": true} is printed once every socket has connected (or
// been refused), for a test that acts on the server side then.
// steps (each waits for the previous one):
//   {wait: "<event>"}            the next such event from the server: {event, args, at}
//   {emit: "<event>", args: [..]} emitWithAck (3 s timeout): {ack, at}
//   {disconnect: true}           wait for the disconnect: {disconnect: reason, at}
//   {close: true}                disconnect from the client side
//   {after: "<name>", steps: n}  wait until socket <name> has completed n steps
// The report has one entry per step, after a first {connected, at}.
// `at` is Date.now() when the step completed (the tests compare it with token times, never
// with durations). A socket that is refused reports {connect_error, code} and stops.
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../../clients/js/package.json"));
const { io } = require("socket.io-client");

const opts = JSON.parse(process.argv[2]);
const clientOpts = {
  transports: opts.transports ?? ["polling", "websocket"],
  reconnection: false,
  forceNew: true,
  timeout: 5000,
};
if (opts.parser === "msgpack") clientOpts.parser = require("socket.io-msgpack-parser");

const report = {};
const sockets = [];
const progress = new Map(); // socket name -> {done, waiters: [[n, resolve]]}
const track = (name) => {
  if (!progress.has(name)) progress.set(name, { done: 0, waiters: [] });
  return progress.get(name);
};
const stepDone = (name) => {
  const state = track(name);
  state.done += 1;
  state.waiters = state.waiters.filter(([n, resolve]) => (state.done >= n ? (resolve(), false) : true));
};
const stepsDone = (name, n) => {
  const state = track(name);
  return state.done >= n ? Promise.resolve() : new Promise((resolve) => state.waiters.push([n, resolve]));
};
const finish = (status) => {
  for (const socket of sockets) socket.disconnect();
  process.stdout.write(JSON.stringify({ status, report }) + "\n");
  process.exit(0);
};
const timer = setTimeout(() => finish("timeout"), opts.timeoutMs ?? 20000);

/** Everything a socket receives, queued per event name, so that no step misses an event that
 * came before it started waiting. */
function inbox(socket) {
  const queues = new Map();
  const waiting = new Map();
  const put = (name, item) => {
    const waiter = waiting.get(name);
    if (waiter) {
      waiting.delete(name);
      waiter(item);
    } else {
      if (!queues.has(name)) queues.set(name, []);
      queues.get(name).push(item);
    }
  };
  socket.onAny((event, ...args) => put(event, { event, args, at: Date.now() }));
  socket.on("disconnect", (reason) => put("disconnect", { disconnect: reason, at: Date.now() }));
  socket.on("connect_error", (err) => put("connect_error", err));
  return (name) => {
    const queue = queues.get(name);
    if (queue?.length) return Promise.resolve(queue.shift());
    return new Promise((resolve) => waiting.set(name, resolve));
  };
}

let unsettled = opts.sockets.length;
const settled = () => {
  if (--unsettled === 0 && opts.announce) process.stdout.write(JSON.stringify({ connected: true }) + "\n");
};

async function run({ name, namespace, token, url, steps }) {
  const seen = (report[name] = []);
  const base = url ?? opts.url;
  const socket = io(base + namespace, { ...clientOpts, auth: token ? { token } : {} });
  sockets.push(socket);
  const next = inbox(socket);
  const outcome = await Promise.race([
    new Promise((resolve) => socket.once("connect", () => resolve(null))),
    next("connect_error"),
  ]);
  if (outcome) {
    seen.push({ connect_error: outcome.message, code: outcome.data?.code ?? null });
    settled();
    return;
  }
  seen.push({ connected: true, at: Date.now() });
  settled();
  for (const step of steps) {
    if (step.wait) seen.push(await next(step.wait));
    else if (step.emit) {
      try {
        const ack = await socket.timeout(3000).emitWithAck(step.emit, ...(step.args ?? []));
        seen.push({ ack, at: Date.now() });
      } catch (err) {
        seen.push({ ack_error: String(err), at: Date.now() });
      }
    } else if (step.disconnect) seen.push(await next("disconnect"));
    else if (step.close) {
      socket.disconnect();
      seen.push({ closed: true });
    } else if (step.after) {
      await stepsDone(step.after, step.steps);
      seen.push({ after: step.after });
    }
    stepDone(name);
  }
}

Promise.all(opts.sockets.map(run)).then(
  () => {
    clearTimeout(timer);
    finish("done");
  },
  (err) => {
    clearTimeout(timer);
    process.stdout.write(JSON.stringify({ status: "error", error: String(err), report }) + "\n");
    process.exit(1);
  },
);
