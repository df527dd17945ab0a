// Start a real socketsvc node as a subprocess for the package's tests.
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

/** The repository root (clients/js/test/../../..): socketsvc is imported from here. */
export const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const PYTHON = process.env.PYTHON ?? "python3";

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * `python -m socketsvc serve` on 127.0.0.1:`port` with the given serializer (and more flags in
 * `args`), ready once `/healthz` answers. Returns {url, port, process, stop(), freeze(), thaw(), restart()}.
 */
export async function startServer({ serializer = "json", port, args = [] } = {}) {
  port ??= await freePort();
  const server = {
    url: `http://127.0.0.1:${port}`,
    port,
    serializer,
    process: null,
    log: "",
    async start() {
      const child = spawn(
        PYTHON,
        ["-m", "socketsvc", "serve", "--host", "127.0.0.1", "--port", String(port),
          "--serializer", serializer, "--log-level", "warning", "--shutdown-grace", "1", ...args],
        {
          cwd: ROOT,
          env: { ...process.env, PYTHONPATH: [ROOT, process.env.PYTHONPATH].filter(Boolean).join(":") },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      server.process = child;
      child.stdout.on("data", (d) => (server.log += d));
      child.stderr.on("data", (d) => (server.log += d));
      await waitHealthy(server);
    },
    /** SIGTERM, then SIGKILL if the node has not exited within 5 s. */
    async stop() {
      const child = server.process;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGCONT");
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
    /** Stop the process without closing its sockets: requests get no answer. */
    freeze() {
      server.process.kill("SIGSTOP");
    },
    thaw() {
      server.process.kill("SIGCONT");
    },
    async restart() {
      await server.stop();
      await server.start();
    },
  };
  await server.start();
  return server;
}

async function waitHealthy(server, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const child = server.process;
    if (child.exitCode !== null) {
      throw new Error(`socketsvc exited with ${child.exitCode}:\n${server.log}`);
    }
    try {
      const response = await fetch(`${server.url}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`socketsvc did not answer /healthz within ${timeoutMs} ms:\n${server.log}`);
}

/** An HS256 JWT of `claims` signed with `secret` (what an identity provider would issue). */
export function signToken(claims, secret) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const body = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}

/** Resolve once `condition()` is true (checked every 20 ms), or reject after `ms`. */
export async function until(condition, ms = 10000, what = "condition") {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${ms} ms`);
    await sleep(20);
  }
}

/** Resolve with the next `event` on `client` (a ChatClient), or reject after `ms`. */
export function nextEvent(client, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no '${event}' within ${ms} ms`));
    }, ms);
    const off = client.on(event, (payload) => {
      clearTimeout(timer);
      off();
      resolve(payload);
    });
  });
}

/** Resolve once `client.state === state`, or reject after `ms`. */
export function reachState(client, state, ms = 10000) {
  if (client.state === state) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`state '${client.state}', not '${state}', after ${ms} ms`));
    }, ms);
    const off = client.onState((now) => {
      if (now !== state) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}
