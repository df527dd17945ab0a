#!/usr/bin/env node
// Reference server: stock npm socket.io 4.8.4 implementing the bench contract
// on namespace "/":
//   echo(x) -> ack(x); join({room}) -> join room, ack(true);
//   broadcast({room, payload, ts}) -> emit "tick" with that object to the room.
// One parser per server: JSON (default) or socket.io-msgpack-parser.
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";

const require = createRequire(new URL("../clients/js/package.json", import.meta.url));
const { Server } = require("socket.io");

const { values: opt } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    format: { type: "string", default: "json" },
  },
});

const options = { serveClient: false, transports: ["websocket", "polling"] };
if (opt.format === "msgpack") options.parser = require("socket.io-msgpack-parser");
else if (opt.format !== "json") throw new Error(`unknown format ${opt.format}`);

const httpServer = createServer();
const io = new Server(httpServer, options);

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

httpServer.listen(Number(opt.port), opt.host, () => {
  console.log(`node socket.io listening on ${opt.host}:${opt.port} (${opt.format})`);
});

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => process.exit(0));
}
