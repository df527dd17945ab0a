// Reference Socket.IO 4.8 server for the raw protocol suite (tests/protocol).
// Usage: node node_server.mjs [port]   (port 0 = pick a free one; PORT env also accepted)
// Prints "READY <port>" on stdout once listening on 127.0.0.1.
import { createRequire } from "node:module";
import http from "node:http";

const require = createRequire(import.meta.url);
const { Server } = require("../../clients/js/node_modules/socket.io");

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
const connectTimeout = Number(process.env.CONNECT_TIMEOUT_MS ?? 1000);
const httpRequestBodyTimeout = Number(process.env.BODY_TIMEOUT_MS ?? 30000);

const httpServer = http.createServer();
const io = new Server(httpServer, {
  pingInterval: 300,
  pingTimeout: 200,
  maxHttpBufferSize: 1e6,
  connectTimeout,
  httpRequestBodyTimeout,
});

function mirror(nsp) {
  nsp.on("connection", (socket) => {
    socket.emit("auth", socket.handshake.auth);
    socket.on("message", (...args) => socket.emit("message-back", ...args));
    socket.on("ack-echo", (...args) => {
      const ack = args.pop();
      if (typeof ack === "function") ack(...args);
    });
    socket.on("burst", (n) => {
      for (let i = 0; i < n; i++) socket.emit("burst", i);
    });
    // leave the namespace only; the Engine.IO session stays open
    socket.on("disconnect-me", () => socket.disconnect());
    // leave the namespace and close the underlying Engine.IO session
    socket.on("force-close", () => socket.disconnect(true));
  });
}

mirror(io.of("/"));
mirror(io.of("/custom"));

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`READY ${httpServer.address().port}`);
});

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}
