// A Node.js Socket.IO node of the mixed cluster: what an existing app's server looks like
// on @socket.io/redis-adapter. Its /chat clients share rooms with socketsvc's /chat clients.
import http from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";

const pub = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379/0");
const sub = pub.duplicate();
const io = new Server(http.createServer(), {
  adapter: createAdapter(pub, sub, { key: process.env.SOCKETIO_KEY ?? "socket.io" }),
});

io.of("/chat").on("connection", (socket) => {
  socket.on("join", ({ room }, ack) => {
    socket.join(room);
    ack?.({ ok: true });
  });
  socket.on("message", ({ room, text }, ack) => {
    io.of("/chat").to(room).emit("message", { room, text, from: "node-1" });
    ack?.({ ok: true });
  });
});
// A server-side event any node of the cluster may send (socketsvc: self.server_side_emit)
io.of("/chat").on("ping-nodes", (from, ack) => ack?.({ node: "node-1", from }));

io.httpServer.listen(Number(process.env.PORT ?? 3000), "0.0.0.0");
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => io.close(() => process.exit(0)));
