/**
 * @socketsvc/client: a typed wrapper around the stock socket.io-client 4.8 for socketsvc.
 *
 * - `connect(url, options)` opens a typed socket.io-client `Socket` (namespace `/chat` by
 *   default, msgpack in browsers and JSON elsewhere, auth `{token}`, reconnection defaults).
 * - `NamespaceClient` turns any namespace's requests into promises that reject with
 *   `SocketsvcError`, typed by the contract `socketsvc contract --format typescript` writes, and
 *   sends its kept requests (rooms joined) again after a reconnect.
 * - `ChatClient` does the same for `/chat`, with a method per request.
 * - `getToken` keeps a connection's token fresh (`TokenSession`): the server closes connections
 *   whose token expires.
 */
export { connect, CONNECT_DEFAULTS, defaultFormat, namespaceUrl } from "./connect.js";
export type { ConnectOptions, EventsMap, Format } from "./connect.js";
export { NamespaceClient, DEFAULT_REQUEST_TIMEOUT } from "./namespace.js";
export type {
  ConnectionState,
  NamespaceClientOptions,
  Rejoined,
  RejoinListener,
  Reply,
  RequestArgs,
  RequestEvents,
  StateListener,
} from "./namespace.js";
export { ChatClient, DEFAULT_SEND_RETRIES } from "./client.js";
export type { ChatClientOptions, ChatRejoinListener, ChatSocket, RejoinResult } from "./client.js";
export { SocketsvcError, isErrorAck, TIMEOUT, CLOSED } from "./errors.js";
export {
  TokenSession,
  tokenSession,
  SESSION_EXPIRED,
  EXPIRING_EVENT,
  REFRESH_EVENT,
  REFRESH_TIMEOUT,
} from "./session.js";
export type { GetToken } from "./session.js";
// socket.io-client's own types that appear in this package's signatures
export type { ManagerOptions, Socket, SocketOptions } from "socket.io-client";
export type * from "./chat.js";
