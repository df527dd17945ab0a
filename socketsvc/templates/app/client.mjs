// A client of the /auction namespace: `npm install socket.io-client`, then `node client.mjs`.
// Browsers and React Native use the same API; Swift, Java and Dart clients connect the same way.
// For the msgpack parser: `npm install socket.io-msgpack-parser` and
// io(url, { parser: await import("socket.io-msgpack-parser") }) (one server endpoint serves both).
import { io } from "socket.io-client";

const url = process.env.AUCTION_URL ?? "http://127.0.0.1:8000";
const socket = io(`${url}/auction`, { transports: ["websocket"] });
socket.on("leading", ({ lot, amount }) => console.log(`new best bid on ${lot}: ${amount}`));

const best = await socket.emitWithAck("watch", "A-1"); // the ack: the best bid so far, if any
console.log("watching A-1, best bid so far:", best ?? "none");
const reply = await socket.timeout(5000).emitWithAck("bid", { lot: "A-1", amount: "12.50" });
if (reply.error) console.log("refused:", reply.error.code, reply.error.message);
else console.log("leading:", reply);
socket.close();
