import { io } from "socket.io-client";
import type { ManagerOptions, Socket, SocketOptions } from "socket.io-client";
import * as msgpackParser from "socket.io-msgpack-parser";
import type { ChatClientEvents, ChatServerEvents } from "./chat.js";
import { type GetToken, TokenSession } from "./session.js";

/** Wire format of Socket.IO packets: socketsvc speaks both (one binary msgpack frame per packet,
 * or the standard JSON text encoding). */
export type Format = "msgpack" | "json";

/** Event map accepted by socket.io-client's typed `Socket`: event name -> listener signature. */
export type EventsMap = Record<string, any>;

export interface ConnectOptions extends Partial<ManagerOptions & SocketOptions> {
  /** Namespace to connect to. Default `/chat`. */
  namespace?: string;
  /** Sent as the Socket.IO auth payload `{token}` (merged into `auth` if that is an object). */
  token?: string;
  /**
   * Where fresh tokens come from: asked before every connection attempt, when the server says
   * the token is about to expire (the client then refreshes it on the live connection), and after
   * a `token_expired` refusal. See {@link TokenSession}; `tokenSession(socket)` returns it.
   */
  getToken?: GetToken;
  /** Wire format. Default: `msgpack` in browsers (where `document` exists), `json` elsewhere
   * (Node, React Native, workers). */
  format?: Format;
}

/**
 * Reconnection and connection defaults applied by {@link connect}; any of them can be overridden
 * through the options.
 *
 * - `reconnection: true`, `reconnectionAttempts: Infinity`: a client never gives up by itself.
 * - `reconnectionDelay: 500`, `reconnectionDelayMax: 5000`, `randomizationFactor: 0.5`: first retry
 *   after 0.25–0.75 s, doubling up to 5 s, jittered so a restarted node is not hit by every client
 *   at the same instant.
 * - `timeout: 10000`: one connection attempt may take 10 s before it counts as failed.
 * - `forceNew: true`: every `connect()` gets its own Manager (connection), so two clients with
 *   different formats or tokens never share one by accident.
 *
 * Transports stay socket.io-client's default (HTTP long-polling, upgraded to WebSocket), which
 * passes through any proxy; pass `transports: ["websocket"]` to skip polling (needed by
 * multi-node deployments without sticky sessions, and recommended in React Native).
 */
export const CONNECT_DEFAULTS = Object.freeze({
  reconnection: true,
  reconnectionAttempts: Infinity,
  reconnectionDelay: 500,
  reconnectionDelayMax: 5000,
  randomizationFactor: 0.5,
  timeout: 10_000,
  forceNew: true,
});

/** The format used when none is asked for: msgpack in browsers, json elsewhere. */
export function defaultFormat(): Format {
  return typeof document !== "undefined" ? "msgpack" : "json";
}

/** `base` (absolute URL, or "" for the page's own origin) with its path replaced by `namespace`. */
export function namespaceUrl(base: string | undefined, namespace: string): string {
  const nsp = namespace.startsWith("/") ? namespace : `/${namespace}`;
  if (!base) return nsp;
  const cut = base.search(/[?#]/);
  const [head, tail] = cut === -1 ? [base, ""] : [base.slice(0, cut), base.slice(cut)];
  const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(head)?.[0] ?? head.replace(/\/+$/, "");
  return origin + nsp + tail;
}

/**
 * Open a Socket.IO connection to a socketsvc namespace (default `/chat`).
 *
 * `url` is the server's origin (`https://chat.example.com`); leave it undefined in a page served
 * by socketsvc itself. The returned socket is socket.io-client's own `Socket`, typed with the
 * `/chat` event maps unless other maps are given.
 */
export function connect<
  ListenEvents extends EventsMap = ChatServerEvents,
  EmitEvents extends EventsMap = ChatClientEvents,
>(url?: string, options: ConnectOptions = {}): Socket<ListenEvents, EmitEvents> {
  const { namespace = "/chat", token, getToken, format = defaultFormat(), ...rest } = options;
  if (format !== "msgpack" && format !== "json") {
    throw new TypeError(`format must be "msgpack" or "json", not ${JSON.stringify(format)}`);
  }
  const socketOptions: Partial<ManagerOptions & SocketOptions> = { ...CONNECT_DEFAULTS, ...rest };
  if (format === "msgpack") socketOptions.parser = msgpackParser;
  // Always send an auth object: with msgpack an absent auth reaches the server as an opaque
  // extension value, and an `undefined` field would too, so only defined keys go in.
  let session: TokenSession | undefined;
  if (typeof rest.auth !== "function") {
    const auth: Record<string, unknown> = { ...(rest.auth ?? {}) };
    if (token !== undefined) auth.token = token;
    socketOptions.auth = auth;
    if (getToken !== undefined) {
      // socket.io-client calls this before every connection attempt, reconnects included
      socketOptions.auth = (send: (data: object) => void) => {
        void session?.auth(auth).then(send);
      };
    }
  } else if (getToken !== undefined) {
    throw new TypeError("pass either getToken or an auth function, not both");
  }
  if (getToken === undefined) {
    return io(namespaceUrl(url, namespace), socketOptions) as Socket<ListenEvents, EmitEvents>;
  }
  // The session listens before the first attempt starts.
  const autoConnect = socketOptions.autoConnect ?? true;
  socketOptions.autoConnect = false;
  const socket = io(namespaceUrl(url, namespace), socketOptions) as Socket<ListenEvents, EmitEvents>;
  session = new TokenSession(socket, getToken, token);
  if (autoConnect) socket.connect();
  return socket;
}
