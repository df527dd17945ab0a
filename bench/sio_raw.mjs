// Minimal raw Engine.IO v4 / Socket.IO v5 client over a bare websocket.
//
// Only what the benchmark needs: websocket transport, namespace "/", EVENT/ACK
// packets, server pings, JSON text frames or msgpack binary frames.
// No reconnection, no HTTP long-polling, no binary attachments in JSON mode.
import { createRequire } from "node:module";

const require = createRequire(new URL("../clients/js/package.json", import.meta.url));
export const WebSocket = require("ws");
export const notepack = require("notepack.io");

// Socket.IO packet types
export const CONNECT = 0;
export const DISCONNECT = 1;
export const EVENT = 2;
export const ACK = 3;
export const CONNECT_ERROR = 4;

export function wsUrl(host, port) {
  return `ws://${host}:${port}/socket.io/?EIO=4&transport=websocket`;
}

// ---- encoding ------------------------------------------------------------

// JSON: Engine.IO "4" (message) + Socket.IO type digit + [nsp ","] + [id] + JSON.
// The default namespace "/" is omitted, exactly like the stock socket.io-parser.
function encodeJson(type, data, id) {
  let s = "4" + type;
  if (id !== undefined) s += id;
  if (data !== undefined) s += JSON.stringify(data);
  return s;
}

// msgpack: one binary websocket frame holding {type, nsp, data, id?}; undefined
// keys are left out (notepack would encode undefined as an ext type).
function encodeMsgpack(type, data, id) {
  const p = { type, nsp: "/" };
  if (data !== undefined) p.data = data;
  if (id !== undefined) p.id = id;
  return notepack.encode(p);
}

export function encodePacket(format, type, data, id) {
  return format === "msgpack" ? encodeMsgpack(type, data, id) : encodeJson(type, data, id);
}

// ---- decoding ------------------------------------------------------------

// Decode a Socket.IO text packet (the part after the Engine.IO "4").
export function decodeText(s, start = 0) {
  const type = s.charCodeAt(start) - 48;
  let i = start + 1;
  let nsp = "/";
  if (s.charCodeAt(i) === 47 /* "/" */) {
    const j = s.indexOf(",", i);
    if (j < 0) {
      nsp = s.slice(i);
      i = s.length;
    } else {
      nsp = s.slice(i, j);
      i = j + 1;
    }
  }
  let id;
  const idStart = i;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) break;
    i++;
  }
  if (i > idStart) id = Number(s.slice(idStart, i));
  const data = i < s.length ? JSON.parse(s.slice(i)) : undefined;
  return { type, nsp, id, data };
}

export function decodeBinary(buf) {
  const p = notepack.decode(buf);
  return { type: p.type, nsp: p.nsp, id: p.id, data: p.data };
}

// ---- client --------------------------------------------------------------

export class RawClient {
  /**
   * @param {string} url      websocket URL (see wsUrl)
   * @param {"json"|"msgpack"} format
   * @param {(event: string, args: any[]) => void} [onEvent]
   */
  constructor(url, format, onEvent, opts = {}) {
    this.url = url;
    this.format = format;
    this.onEvent = onEvent || null;
    // Load-generator fast paths (JSON only): rawAcks passes the ack's JSON text
    // unparsed to the callback; onTextEvent(frame) may consume an EVENT frame
    // ("42...") without the generic decode and returns true if it did.
    this.rawAcks = Boolean(opts.rawAcks);
    this.onTextEvent = opts.onTextEvent || null;
    this.ws = null;
    this.sid = null;
    this.nextId = 0;
    this.acks = new Map();
    this.connected = false;
    this.closed = false;
    this.pings = 0;
    this.onFrame = null; // optional tap: (frame, isBinary) => void, for verification
  }

  /** Open the websocket and complete the Socket.IO CONNECT to "/". */
  connect(timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (err) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) {
          this.close();
          reject(err);
        } else {
          resolve(this);
        }
      };
      const timer = setTimeout(() => finish(new Error("connect timeout")), timeoutMs);
      const ws = new WebSocket(this.url, { perMessageDeflate: false, skipUTF8Validation: true });
      this.ws = ws;
      ws.binaryType = "nodebuffer";
      ws.on("error", (err) => finish(err));
      ws.on("close", () => {
        this.connected = false;
        this.closed = true;
        finish(new Error("closed before connect"));
      });
      ws.on("message", (msg, isBinary) => {
        if (this.onFrame) this.onFrame(msg, isBinary);
        let pkt;
        if (isBinary) {
          pkt = decodeBinary(msg);
        } else {
          const s = msg.toString();
          const eio = s.charCodeAt(0);
          if (eio === 50 /* "2" ping */) {
            this.pings++;
            ws.send("3");
            return;
          }
          if (eio === 48 /* "0" open */) {
            // handshake: {sid, upgrades, pingInterval, pingTimeout, maxPayload}
            this.handshake = JSON.parse(s.slice(1));
            ws.send(encodePacket(this.format, CONNECT));
            return;
          }
          if (eio === 49 /* "1" close */) {
            ws.close();
            return;
          }
          if (eio !== 52 /* "4" message */) return;
          const sio = s.charCodeAt(1);
          if (sio === 51 /* "3" ack */ && this.rawAcks && s.charCodeAt(2) !== 47) {
            this.rawAck(s);
            return;
          }
          if (sio === 50 /* "2" event */ && this.onTextEvent && this.onTextEvent(s)) return;
          pkt = decodeText(s, 1);
        }
        this.handlePacket(pkt, finish);
      });
    });
  }

  handlePacket(pkt, finish) {
    switch (pkt.type) {
      case EVENT:
        if (this.onEvent) this.onEvent(pkt.data[0], pkt.data.slice(1), pkt.id);
        break;
      case ACK: {
        const cb = this.acks.get(pkt.id);
        if (cb) {
          this.acks.delete(pkt.id);
          cb(pkt.data);
        }
        break;
      }
      case CONNECT:
        this.sid = pkt.data && pkt.data.sid;
        this.connected = true;
        finish(null);
        break;
      case CONNECT_ERROR:
        finish(new Error("connect_error: " + JSON.stringify(pkt.data)));
        break;
      case DISCONNECT:
        this.close();
        break;
      default:
        break;
    }
  }

  // "43<id><json>" on namespace "/": look up the callback without JSON.parse.
  rawAck(s) {
    let i = 2;
    let id = 0;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      id = id * 10 + (c - 48);
    }
    const cb = this.acks.get(id);
    if (cb) {
      this.acks.delete(id);
      cb(s.slice(i));
    }
  }

  /** Send a pre-encoded frame (string for JSON, Buffer for msgpack). */
  sendRaw(frame) {
    this.ws.send(frame);
  }

  /** Emit an event; if cb is given, ask for an ack and call cb(argsArray). */
  emit(event, data, cb) {
    let id;
    if (cb) {
      id = this.nextId++;
      this.acks.set(id, cb);
    }
    this.ws.send(encodePacket(this.format, EVENT, [event, data], id));
    return id;
  }

  /** Promise wrapper around emit-with-ack. */
  call(event, data, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`ack timeout for ${event}`)), timeoutMs);
      this.emit(event, data, (args) => {
        clearTimeout(timer);
        resolve(args);
      });
    });
  }

  close() {
    if (this.ws && !this.closed) {
      this.closed = true;
      this.connected = false;
      try {
        this.ws.terminate();
      } catch {
        // already gone
      }
    }
  }
}
