#!/usr/bin/env node
// Load generator for the socketsvc benchmark.
//
// Speaks Engine.IO v4 / Socket.IO v5 frames directly over `ws` (see sio_raw.mjs)
// and prints exactly one JSON line with the scenario's metrics on stdout.
// Every loop is bounded by a count and by time; a hard deadline exits the
// process no matter what.
//
//   node bench/loadgen.mjs --scenario ack-echo --port 5000 --format json \
//        --clients 50 --window 4 --duration 5 --server-pid 1234
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";

import { RawClient, wsUrl } from "./sio_raw.mjs";

const { values: opt } = parseArgs({
  options: {
    scenario: { type: "string" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    port2: { type: "string", default: "" }, // second node: odd-numbered members connect there
    format: { type: "string", default: "json" }, // json | msgpack
    clients: { type: "string", default: "50" },
    window: { type: "string", default: "4" },
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "0.5" },
    rate: { type: "string", default: "10" },
    batch: { type: "string", default: "200" },
    payload: { type: "string", default: "64" },
    "server-pid": { type: "string", default: "0" },
    "clk-tck": { type: "string", default: "100" },
    deadline: { type: "string", default: "120" },
  },
});

const url = wsUrl(opt.host, opt.port);
const url2 = opt.port2 ? wsUrl(opt.host, opt.port2) : url;
const FORMAT = opt.format;
const N = Number.parseInt(opt.clients, 10);
const WINDOW = Number.parseInt(opt.window, 10);
const DURATION_MS = Number.parseFloat(opt.duration) * 1000;
const WARMUP_MS = Number.parseFloat(opt.warmup) * 1000;
const RATE = Number.parseFloat(opt.rate);
const BATCH = Number.parseInt(opt.batch, 10);
const PAYLOAD = "x".repeat(Number.parseInt(opt.payload, 10));
const SERVER_PID = Number.parseInt(opt["server-pid"], 10);
const CLK_TCK = Number.parseInt(opt["clk-tck"], 10);
const ROOM = "bench-room";

// Hard stop: whatever happens, this process ends.
const hardStop = setTimeout(
  () => {
    out({ ok: false, error: `deadline of ${opt.deadline}s exceeded` });
    process.exit(3);
  },
  Number.parseFloat(opt.deadline) * 1000,
);

let printed = false;
function out(obj) {
  if (printed) return;
  printed = true;
  process.stdout.write(JSON.stringify({ scenario: opt.scenario, format: FORMAT, ...obj }) + "\n");
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- measurement helpers ---------------------------------------------------

function serverRssKiB() {
  if (!SERVER_PID) return null;
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${SERVER_PID}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** utime + stime of `pid` and of its descendants (the workers of a multi-process server). */
function treeCpuTicks(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  let ticks = Number(f[11]) + Number(f[12]); // fields 14, 15
  let children = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean);
  } catch {
    // a kernel without the children file: this process only
  }
  for (const child of children) {
    try {
      ticks += treeCpuTicks(child);
    } catch {
      // it exited meanwhile
    }
  }
  return ticks;
}

function serverCpuTicks() {
  if (!SERVER_PID) return null;
  try {
    return treeCpuTicks(SERVER_PID);
  } catch {
    return null;
  }
}

/** Start a measurement window: wall time, own CPU, server CPU. */
function startWindow() {
  return { t: performance.now(), cpu: process.cpuUsage(), srv: serverCpuTicks() };
}

function endWindow(w) {
  const wallMs = performance.now() - w.t;
  const c = process.cpuUsage(w.cpu);
  const srv = serverCpuTicks();
  return {
    wall_s: wallMs / 1000,
    lg_cpu_pct: ((c.user + c.system) / 1000 / wallMs) * 100,
    server_cpu_pct:
      srv !== null && w.srv !== null ? (((srv - w.srv) / CLK_TCK) * 1000 * 100) / wallMs : null,
  };
}

function percentiles(samples) {
  if (samples.length === 0) return { p50_ms: null, p99_ms: null };
  const a = Float64Array.from(samples).sort();
  const pick = (q) => a[Math.min(a.length - 1, Math.floor(q * a.length))];
  return { p50_ms: pick(0.5), p99_ms: pick(0.99), max_ms: a[a.length - 1] };
}

/** Connect `n` clients, at most `batch` handshakes in flight at a time. */
async function connectMany(n, formatOf, onEvent, batch = BATCH, opts = {}) {
  const clients = [];
  let failures = 0;
  let firstError = null;
  for (let i = 0; i < n; i += batch) {
    const k = Math.min(batch, n - i);
    const results = await Promise.allSettled(
      Array.from({ length: k }, (_, j) => {
        const idx = i + j;
        const c = new RawClient(
          idx % 2 === 1 ? url2 : url,
          formatOf(idx),
          onEvent ? (ev, args) => onEvent(idx, ev, args) : null,
          typeof opts === "function" ? opts(idx) : opts,
        );
        return c.connect();
      }),
    );
    for (const r of results) {
      if (r.status === "fulfilled") clients.push(r.value);
      else {
        failures++;
        firstError ??= String(r.reason && r.reason.message ? r.reason.message : r.reason);
      }
    }
    // Bail out early when the server refuses everything.
    if (clients.length === 0 && failures >= Math.min(n, batch)) break;
  }
  return { clients, failures, firstError };
}

// Frame text like 42["tick",{"room":..,"payload":{"seq":1,"m":0,"s":".."},"ts":12.5}]
// (key order and separators may vary by server; fall back to JSON.parse if unsure).
function fastTick(s, cb) {
  if (!s.startsWith('42["tick",')) return false;
  const a = s.indexOf('"seq":');
  const b = s.indexOf('"ts":');
  const c = s.indexOf('"m":');
  if (a < 0 || b < 0 || c < 0) return false;
  const seq = Number.parseInt(s.slice(a + 6, a + 24), 10);
  const ts = Number.parseFloat(s.slice(b + 5, b + 40));
  const m = Number.parseInt(s.slice(c + 4, c + 8), 10);
  if (Number.isNaN(seq) || Number.isNaN(ts) || Number.isNaN(m)) return false;
  cb(seq, ts, m);
  return true;
}

async function joinAll(clients) {
  const res = await Promise.allSettled(clients.map((c) => c.call("join", { room: ROOM })));
  return res.filter((r) => r.status === "fulfilled" && r.value && r.value[0] === true).length;
}

function closeAll(clients) {
  for (const c of clients) c.close();
}

// ---- scenarios -------------------------------------------------------------

// Each client keeps WINDOW echo events with ack outstanding; counts acks and
// their latency during DURATION (after a short warm-up).
async function ackEcho() {
  const { clients, failures, firstError } = await connectMany(N, () => FORMAT, null, BATCH, {
    rawAcks: true,
  });
  if (clients.length === 0) return { ok: false, error: `no client connected: ${firstError}` };
  const payload = { s: PAYLOAD, n: 0 };
  let measuring = false;
  let stopping = false;
  let acks = 0;
  let bad = 0;
  const lat = [];
  const MAX_SAMPLES = 2_000_000;

  // JSON: pre-encoded frame body and expected ack text (no per-message JSON work).
  const body = JSON.stringify(["echo", payload]);
  const expectedAck = JSON.stringify([payload]);
  const sendOne = (c) => {
    const t0 = performance.now();
    const cb = (args) => {
      if (measuring) {
        acks++;
        if (lat.length < MAX_SAMPLES) lat.push(performance.now() - t0);
      }
      if (typeof args === "string") {
        if (args !== expectedAck) bad++;
      } else if (!args || !args[0] || args[0].s !== PAYLOAD) {
        bad++;
      }
      if (!stopping && c.connected) sendOne(c);
    };
    if (c.format === "json") {
      const id = c.nextId++;
      c.acks.set(id, cb);
      c.sendRaw("42" + id + body);
    } else {
      c.emit("echo", payload, cb);
    }
  };
  for (const c of clients) for (let i = 0; i < WINDOW; i++) sendOne(c);
  await sleep(WARMUP_MS);
  measuring = true;
  const w = startWindow();
  await sleep(DURATION_MS);
  measuring = false;
  const win = endWindow(w);
  stopping = true;
  closeAll(clients);
  return {
    ok: acks > 0,
    error: acks > 0 ? undefined : "no acks received",
    metrics: {
      acks_per_s: acks / win.wall_s,
      ...percentiles(lat),
      clients: clients.length,
      connect_failures: failures,
      bad_acks: bad,
      window: WINDOW,
    },
    lg_cpu_pct: win.lg_cpu_pct,
    server_cpu_pct: win.server_cpu_pct,
  };
}

// N members join one room; a separate driver client emits `broadcast` and the
// server emits `tick` to the room. mode "rate": RATE broadcasts/s, latency from
// the ts in the payload. mode "max": up to WINDOW broadcasts not yet delivered
// to every member; deliveries/s.
async function broadcast(mode, mixed) {
  const formatOf = mixed ? (i) => (i % 2 === 0 ? "json" : "msgpack") : () => FORMAT;
  let measuring = false;
  let deliveries = 0;
  const lat = [];
  const latByFormat = { json: [], msgpack: [] };
  const pending = new Map(); // seq -> {left, t}
  let inflight = 0;
  let kick = null;
  const MAX_SAMPLES = 2_000_000;

  const onTick = (idx, seq, ts, m) => {
    const now = performance.now();
    const p = pending.get(seq);
    if (p) {
      p.left--;
      if (p.left === 0) {
        pending.delete(seq);
        inflight--;
        if (kick) kick();
      }
    }
    // max: every delivery inside the window; rate: every delivery of a measured broadcast
    if (!(mode === "max" ? measuring : m)) return;
    deliveries++;
    const l = now - ts;
    if (lat.length < MAX_SAMPLES) lat.push(l);
    if (mixed && latByFormat[formatOf(idx)].length < MAX_SAMPLES) latByFormat[formatOf(idx)].push(l);
  };

  const onEvent = (idx, ev, args) => {
    if (ev !== "tick") return;
    const d = args[0];
    onTick(idx, d.payload.seq, d.ts, d.payload.m);
  };
  // JSON fast path: pull seq/ts/m out of the tick frame text without JSON.parse.
  const fastOpts = (idx) => ({ onTextEvent: (s) => fastTick(s, (q, t, m) => onTick(idx, q, t, m)) });
  const { clients, failures, firstError } = await connectMany(N, formatOf, onEvent, BATCH, fastOpts);
  if (clients.length === 0) return { ok: false, error: `no member connected: ${firstError}` };
  const joined = await joinAll(clients);
  if (joined === 0) {
    closeAll(clients);
    return { ok: false, error: "no member joined the room" };
  }
  const driver = new RawClient(url, mixed ? "json" : FORMAT, null);
  await driver.connect();

  let seq = 0;
  let lost = 0;
  let sent = 0;
  const send = () => {
    const s = seq++;
    pending.set(s, { left: joined, t: performance.now() });
    inflight++;
    sent++;
    driver.emit("broadcast", {
      room: ROOM,
      payload: { seq: s, m: measuring ? 1 : 0, s: PAYLOAD },
      ts: performance.now(),
    });
  };
  // Forget broadcasts that did not reach every member within 5 s.
  const reaper = setInterval(() => {
    const now = performance.now();
    for (const [s, p] of pending) {
      if (now - p.t > 5000) {
        pending.delete(s);
        inflight--;
        lost++;
        if (kick) kick();
      }
    }
  }, 500);

  let win;
  let sentMeasured = 0;
  if (mode === "rate") {
    const period = 1000 / RATE;
    const warmEnd = performance.now() + WARMUP_MS;
    while (performance.now() < warmEnd) {
      send();
      await sleep(period);
    }
    measuring = true;
    const w = startWindow();
    const count = Math.max(1, Math.round((DURATION_MS / 1000) * RATE));
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      send();
      sentMeasured++;
      // schedule against the start time to avoid drift
      const next = t0 + (i + 1) * period;
      await sleep(Math.max(0, next - performance.now()));
    }
    // let the last ticks arrive (bounded)
    const drainEnd = performance.now() + 2000;
    while (pending.size > 0 && performance.now() < drainEnd) await sleep(20);
    win = endWindow(w);
    measuring = false;
  } else {
    // max: keep WINDOW broadcasts in flight
    let stop = false;
    const pump = () => {
      while (!stop && inflight < WINDOW) {
        send();
        if (measuring) sentMeasured++;
      }
    };
    kick = pump;
    pump();
    await sleep(WARMUP_MS);
    measuring = true;
    const w = startWindow();
    await sleep(DURATION_MS);
    measuring = false;
    win = endWindow(w);
    stop = true;
    kick = null;
  }
  clearInterval(reaper);
  closeAll(clients);
  driver.close();

  const expected = sentMeasured * joined;
  const metrics = {
    deliveries_per_s: deliveries / win.wall_s,
    ...percentiles(lat),
    members: clients.length,
    joined,
    connect_failures: failures,
    broadcasts: sentMeasured,
    delivered_ratio: mode === "rate" && expected > 0 ? deliveries / expected : null,
    lost_broadcasts: lost,
  };
  if (mixed) {
    const j = percentiles(latByFormat.json);
    const m = percentiles(latByFormat.msgpack);
    metrics.json_p99_ms = j.p99_ms;
    metrics.msgpack_p99_ms = m.p99_ms;
    metrics.json_deliveries = latByFormat.json.length;
    metrics.msgpack_deliveries = latByFormat.msgpack.length;
  }
  const ok = deliveries > 0 && (!mixed || (metrics.json_deliveries > 0 && metrics.msgpack_deliveries > 0));
  return {
    ok,
    error: ok ? undefined : "no (or one-format-only) deliveries",
    metrics,
    lg_cpu_pct: win.lg_cpu_pct,
    server_cpu_pct: win.server_cpu_pct,
  };
}

// Connect N idle clients in batches; connect rate and server RSS per connection.
async function idle() {
  const rss0 = serverRssKiB();
  const w = startWindow();
  const { clients, failures, firstError } = await connectMany(N, () => FORMAT);
  const win = endWindow(w);
  if (clients.length === 0) return { ok: false, error: `no client connected: ${firstError}` };
  // settle (at most 1 s), then sample RSS while all are still connected
  await sleep(Math.min(1000, DURATION_MS));
  const rss1 = serverRssKiB();
  const alive = clients.filter((c) => c.connected).length;
  closeAll(clients);
  return {
    ok: true,
    metrics: {
      conn_per_s: clients.length / win.wall_s,
      rss_kib_per_conn: rss0 !== null && rss1 !== null ? (rss1 - rss0) / clients.length : null,
      rss_before_kib: rss0,
      rss_after_kib: rss1,
      connected: clients.length,
      alive_after_settle: alive,
      connect_failures: failures,
      first_error: firstError,
    },
    lg_cpu_pct: win.lg_cpu_pct,
    server_cpu_pct: win.server_cpu_pct,
  };
}

const SCENARIOS = {
  "ack-echo": ackEcho,
  "bcast-rate": () => broadcast("rate", false),
  "bcast-max": () => broadcast("max", false),
  mixed: () => broadcast("rate", true),
  idle,
};

async function main() {
  const fn = SCENARIOS[opt.scenario];
  if (!fn) {
    out({ ok: false, error: `unknown scenario ${opt.scenario}` });
    process.exit(2);
  }
  let res;
  try {
    res = await fn();
  } catch (err) {
    res = { ok: false, error: String(err && err.stack ? err.stack : err) };
  }
  out(res);
  clearTimeout(hardStop);
  // Sockets were terminated; exit now rather than waiting for stray timers.
  process.exit(res.ok ? 0 : 1);
}

main();
