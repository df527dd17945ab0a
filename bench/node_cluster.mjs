#!/usr/bin/env node
// Node's way to use every core: the `cluster` module with @socket.io/sticky (the primary
// accepts connections and hands each to a worker by its `sid`) and @socket.io/cluster-adapter
// (broadcasts relayed through the primary), as socket.io's docs set it up. The bench contract
// of node_server.mjs, on --workers worker processes (default 2).
import cluster from "node:cluster";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";

const require = createRequire(new URL("../clients/js/package.json", import.meta.url));
const { Server } = require("socket.io");
const { setupMaster, setupWorker } = require("@socket.io/sticky");
const { createAdapter, setupPrimary } = require("@socket.io/cluster-adapter");

const { values: opt } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    format: { type: "string", default: "json" },
    workers: { type: "string", default: "2" },
  },
});

if (cluster.isPrimary) {
  const httpServer = createServer();
  setupMaster(httpServer, { loadBalancingMethod: "least-connection" });
  setupPrimary();
  cluster.setupPrimary({ serialization: "advanced" }); // Buffers stay Buffers over IPC
  let ready = 0;
  const workers = Number(opt.workers);
  cluster.on("listening", () => {
    if (++ready === workers) {
      httpServer.listen(Number(opt.port), opt.host, () => {
        console.log(`node cluster listening on ${opt.host}:${opt.port} (${workers} workers)`);
      });
    }
  });
  for (let i = 0; i < workers; i++) cluster.fork();
  for (const sig of ["SIGTERM", "SIGINT"]) {
    process.on(sig, () => {
      for (const worker of Object.values(cluster.workers)) worker.process.kill("SIGTERM");
      process.exit(0);
    });
  }
} else {
  const options = { serveClient: false, transports: ["websocket", "polling"] };
  if (opt.format === "msgpack") options.parser = require("socket.io-msgpack-parser");
  else if (opt.format !== "json") throw new Error(`unknown format ${opt.format}`);
  const httpServer = createServer();
  const io = new Server(httpServer, options);
  io.adapter(createAdapter());
  setupWorker(io);
  io.on("connection", (socket) => {
    socket.on("echo", (data, ack) => {
      if (typeof ack === "function") ack(data);
    });
    socket.on("join", (data, ack) => {
      socket.join(data.room);
      if (typeof ack === "function") ack(true);
    });
    socket.on("broadcast", (data) => {
      io.to(data.room).emit("tick", data);
    });
  });
  // setupWorker takes connections from the primary; listening on an ephemeral port tells the
  // primary this worker is up (cluster's "listening" event).
  httpServer.listen(0, "127.0.0.1");
  process.on("SIGTERM", () => process.exit(0));
}
