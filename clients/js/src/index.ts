/**
 * @socketsvc/client: a typed wrapper around the stock socket.io-client 4.8 for socketsvc.
 *
 * - `connect(url, options)` opens a typed socket.io-client `Socket` (namespace `/chat` by
 *   default, msgpack in browsers and JSON elsewhere, auth `{token}`, reconnection defaults).
 * - `ChatClient` turns `/chat` requests into promises that reject with `SocketsvcError`.
 * - `getToken` keeps a connection's token fresh (`TokenSession`): the server closes connections
 *   whose token expires.
 */
export { connect, CONNECT_DEFAULTS, defaultFormat, namespaceUrl } from "./connect.js";
export type { ConnectOptions, EventsMap, Format } from "./connect.js";
export { ChatClient, DEFAULT_REQUEST_TIMEOUT } from "./client.js";
export type { ChatClientOptions, ChatSocket, ConnectionState, RejoinResult } from "./client.js";
export { SocketsvcError, isErrorAck, TIMEOUT, CLOSED } from "./errors.js";
export { TokenSession, tokenSession, SESSION_EXPIRED, EXPIRING_EVENT, REFRESH_EVENT } from "./session.js";
export type { GetToken } from "./session.js";
export type * from "./chat.js";
