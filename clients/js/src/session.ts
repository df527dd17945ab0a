import type { Socket } from "socket.io-client";
import { isErrorAck, SocketsvcError } from "./errors.js";

/**
 * Where a client gets its token: called before every connection attempt (the first one and every
 * reconnect), when the server says the current token is about to expire (`auth:expiring`), and
 * after a `token_expired` refusal. Return the freshest token you have (from your auth library,
 * refreshing it there as needed); `null`/`undefined` means none.
 */
export type GetToken = () => string | null | undefined | Promise<string | null | undefined>;

/** Error code of a session that ended because its token expired and no fresh one was had. */
export const SESSION_EXPIRED = "session_expired";
/** The server's built-in events for token lifetimes (see docs/security.md on the server). */
export const EXPIRING_EVENT = "auth:expiring";
export const REFRESH_EVENT = "auth:refresh";
/** Milliseconds a refresh waits for the server's answer. */
export const REFRESH_TIMEOUT = 10_000;

type ExpiredListener = (error: SocketsvcError) => void;
type LooseSocket = {
  on(event: string, listener: (...args: any[]) => void): unknown;
  timeout(ms: number): { emitWithAck(event: string, ...args: unknown[]): Promise<unknown> };
};

const sessions = new WeakMap<object, TokenSession>();

/** The token session of a socket made by `connect()` with a `getToken` option, if any. */
export function tokenSession(socket: Socket<any, any>): TokenSession | undefined {
  return sessions.get(socket);
}

/**
 * Keeps a connection's token fresh, so that the server does not close it at the token's `exp`.
 *
 * - On `auth:expiring` it asks `getToken()` and sends the new token (`auth:refresh`); the
 *   connection, its rooms and its pending requests carry on.
 * - Every reconnect asks `getToken()` first (socket.io-client calls the `auth` function it is
 *   given before each attempt).
 * - A `token_expired` refusal is retried once with a fresh token; a second one in a row ends
 *   the session.
 * - When the server closes the connection after an `auth:expiring` that no refresh answered,
 *   or refuses it as expired again, the session is {@link expired}: `onExpired` listeners
 *   (and `ChatClient`'s state, `"expired"`) tell the app to sign the user in again.
 */
export class TokenSession {
  readonly socket: Socket<any, any>;
  readonly getToken: GetToken;
  /** The token last sent (at connect or in a refresh). */
  token: string | undefined;
  /** The current token's `exp` (seconds since the epoch), once the server said it. */
  expires: number | undefined;
  /** The server asked for a fresh token and none has been accepted yet. */
  expiring = false;
  /** Why the last refresh failed (its error code), if it did. */
  lastError: SocketsvcError | undefined;

  #expired = false;
  #retried = false;
  #refreshing: Promise<boolean> | undefined;
  #listeners = new Set<ExpiredListener>();

  constructor(socket: Socket<any, any>, getToken: GetToken, token?: string) {
    this.socket = socket;
    this.getToken = getToken;
    this.token = token;
    sessions.set(socket, this);
    const loose = socket as unknown as LooseSocket;
    loose.on(EXPIRING_EVENT, (notice: { exp?: unknown } | undefined) => {
      if (typeof notice?.exp === "number") this.expires = notice.exp;
      this.expiring = true;
      void this.refresh();
    });
    socket.on("connect", () => {
      this.#retried = false;
      this.#expired = false;
      this.expiring = false;
    });
    socket.on("connect_error", (error: Error & { data?: { code?: unknown } }) => {
      if (error.data?.code !== "token_expired") return;
      if (this.#retried) {
        this.#end("the server refused the token as expired and no fresh one was had");
        return;
      }
      this.#retried = true;
      socket.connect(); // the auth function asks getToken() again
    });
    socket.on("disconnect", (reason: string) => {
      if (reason === "io server disconnect" && this.expiring) {
        this.#end("the session expired: its token ran out and no fresh one was had");
      }
    });
  }

  /** True once the session ended because its token expired (until the next connect). */
  get expired(): boolean {
    return this.#expired;
  }

  /** Call `listener` when the session expires; returns a function that unsubscribes it. */
  onExpired(listener: ExpiredListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The auth payload for a connection attempt: `base` plus a fresh token. */
  async auth(base: Record<string, unknown>): Promise<Record<string, unknown>> {
    const token = (await this.#fresh()) ?? this.token;
    this.token = token;
    return token === undefined ? { ...base } : { ...base, token };
  }

  /**
   * Send a fresh token now. Resolves true when the server accepted it, false when there was no
   * new token (`getToken()` gave none, or the same one) or the server refused it (`lastError`).
   * Concurrent calls share one refresh.
   */
  refresh(): Promise<boolean> {
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #refresh(): Promise<boolean> {
    const token = await this.#fresh();
    if (token === undefined || token === this.token || !this.socket.connected) return false;
    let reply: unknown;
    try {
      reply = await (this.socket as unknown as LooseSocket).timeout(REFRESH_TIMEOUT).emitWithAck(REFRESH_EVENT, token);
    } catch {
      this.lastError = new SocketsvcError("timeout", `no answer to '${REFRESH_EVENT}'`, REFRESH_EVENT);
      return false;
    }
    if (isErrorAck(reply)) {
      this.lastError = new SocketsvcError(reply.error.code, reply.error.message, REFRESH_EVENT);
      return false;
    }
    this.token = token;
    this.lastError = undefined;
    this.expiring = false;
    const exp = (reply as { exp?: unknown } | undefined)?.exp;
    if (typeof exp === "number") this.expires = exp;
    return true;
  }

  async #fresh(): Promise<string | undefined> {
    try {
      const token = await this.getToken();
      return typeof token === "string" && token !== "" ? token : undefined;
    } catch {
      return undefined; // the app's token source failed: carry on with what there is
    }
  }

  #end(message: string): void {
    if (this.#expired) return;
    this.#expired = true;
    const error = new SocketsvcError(SESSION_EXPIRED, message);
    for (const listener of this.#listeners) listener(error);
  }
}
