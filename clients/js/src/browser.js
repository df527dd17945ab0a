// Entry point of the browser bundle served by socketsvc at /static/vendor/socketio.js:
// the stock socket.io-client plus the msgpack parser, as one ES module.
export { io, Manager, Socket } from "socket.io-client";
export * as msgpackParser from "socket.io-msgpack-parser";
