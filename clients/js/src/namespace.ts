import type { Socket } from "socket.io-client";
import { connect, type ConnectOptions, type EventsMap } from "./connect.js";
import { CLOSED, isErrorAck, SocketsvcError, TIMEOUT } from "./errors.js";
import { tokenSession } from "./session.js";

/**
 * - `connecting`: first connection attempt under way.
 * - `connected`: connected, and every kept request (rooms joined, lots watched) has been sent
 *   again after a reconnect.
 * - `reconnecting`: the connection dropped (or an attempt failed); retrying with back-off.
 * - `offline`: not trying any more (closed by `close()`, refused by the server, or out of attempts).
 * - `expired`: the server ended the session because its token expired, and no fresh token could be
 *   had (`getToken`); sign the user in again, then `socket.connect()`. Comes with a
 *   `SocketsvcError` whose code is `session_expired`.
 */
export type ConnectionState = "connecting" | "connected" | "reconnecting" | "offline" | "expired";

/** socketsvc's error reply, `{error: {code, message}}` (any contract's `ErrorAck`). */
interface ErrorReply {
  error: { code: string; message: string };
}
type Last<T extends readonly unknown[]> = T extends readonly [...unknown[], infer L] ? L : never;
type AckOf<F> = F extends (...args: infer A) => unknown ? Last<A> : never;

/** The acknowledged events of a client→server map: those whose last parameter is the ack. */
export type RequestEvents<Emit extends EventsMap> = {
  [E in keyof Emit & string]: AckOf<Emit[E]> extends (reply: never) => void ? E : never;
}[keyof Emit & string];

/** What a request sends: the event's parameters before its ack. */
export type RequestArgs<F> = F extends (...args: [...infer P, infer _Ack]) => unknown ? P : never;

/** A request's successful reply: its ack's argument, without the error reply. */
export type Reply<F> = AckOf<F> extends (reply: infer R) => void ? Exclude<R, ErrorReply> : never;

export interface NamespaceClientOptions {
  /** Milliseconds a request may wait for its ack (including time spent reconnecting). Default 5000. */
  requestTimeout?: number;
  /** Send the kept requests again after every reconnect that did not recover the session. Default true. */
  rejoin?: boolean;
}

/** A request sent again after a reconnect (see {@link NamespaceClient.keep}) and its outcome:
 * `reply` on success, `error` otherwise. */
export interface Rejoined {
  key: string;
  event: string;
  args: readonly unknown[];
  reply?: unknown;
  error?: SocketsvcError;
}

export type StateListener = (state: ConnectionState, error?: Error) => void;
export type RejoinListener = (result: Rejoined) => void;
type Waiter = { resolve: () => void; reject: (error: Error) => void };
// The typed Socket's emitWithAck signature is too clever for a generic wrapper; requests go
// through this loosely typed view, and the public methods carry the precise types.
type LooseSocket = {
  timeout(ms: number): { emitWithAck(event: string, ...args: unknown[]): Promise<unknown> };
  on(event: string, listener: unknown): unknown;
  off(event: string, listener: unknown): unknown;
  emit(event: string, ...args: unknown[]): unknown;
};

export const DEFAULT_REQUEST_TIMEOUT = 5000;

/**
 * Any socketsvc namespace as promises, typed by its contract (`socketsvc contract --format
 * typescript` writes `<Name>ServerToClientEvents` and `<Name>ClientToServerEvents`):
 *
 * - `request(event, ...args)` resolves with the ack, or rejects with a {@link SocketsvcError}
 *   carrying the server's `code` (`invalid_payload`, your own codes…), `timeout` or `closed`.
 * - `keep(event, ...args)` is a request that puts the connection somewhere (joins a room, watches
 *   a lot): rooms belong to a connection, so it is sent again after every reconnect that did not
 *   recover the session, until `forget(key)`.
 * - Requests made while disconnected wait for the reconnect (and the kept requests) within their
 *   timeout, so they never reach a server that has not been told where the client belongs.
 */
export class NamespaceClient<Listen extends EventsMap = EventsMap, Emit extends EventsMap = EventsMap> {
  /** socket.io-client's Socket underneath, for anything this class does not wrap. */
  readonly socket: Socket<Listen, Emit>;
  readonly requestTimeout: number;
  readonly rejoin: boolean;

  #kept = new Map<string, { event: string; args: readonly unknown[] }>();
  #state: ConnectionState;
  #ready = false;
  #generation = 0;
  #closed = false;
  #waiters = new Set<Waiter>();
  #stateListeners = new Set<StateListener>();
  #rejoinListeners = new Set<RejoinListener>();

  /** Connect to `options.namespace` at `url` (default: the page's origin) and wrap the socket. */
  static connect<L extends EventsMap = EventsMap, E extends EventsMap = EventsMap>(
    url?: string,
    options: ConnectOptions & NamespaceClientOptions = {},
  ): NamespaceClient<L, E> {
    const { requestTimeout, rejoin, ...connectOptions } = options;
    const own: NamespaceClientOptions = {};
    if (requestTimeout !== undefined) own.requestTimeout = requestTimeout;
    if (rejoin !== undefined) own.rejoin = rejoin;
    return new NamespaceClient<L, E>(connect<L, E>(url, connectOptions), own);
  }

  constructor(socket: Socket<Listen, Emit>, options: NamespaceClientOptions = {}) {
    this.socket = socket;
    this.requestTimeout = options.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT;
    this.rejoin = options.rejoin ?? true;
    this.#state = socket.connected ? "connected" : socket.active ? "connecting" : "offline";
    this.#ready = socket.connected;
    const raw = socket as unknown as LooseSocket;
    raw.on("connect", () => void this.#onConnect());
    const session = tokenSession(socket);
    raw.on("disconnect", () => {
      this.#notReady();
      if (session?.expired) return; // its onExpired listener sets "expired"
      this.#setState(socket.active ? "reconnecting" : "offline");
    });
    raw.on("connect_error", (error: Error) => {
      this.#notReady();
      if (session?.expired) return;
      this.#setState(socket.active ? "reconnecting" : "offline", error);
    });
    session?.onExpired((error) => {
      this.#notReady();
      this.#setState("expired", error);
    });
    socket.io.on("reconnect_attempt", () => {
      if (!socket.connected) this.#setState("reconnecting");
    });
    socket.io.on("reconnect_failed", () => this.#setState("offline"));
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** The kept requests (key -> event and arguments), as sent again after a reconnect. */
  get kept(): ReadonlyMap<string, { event: string; args: readonly unknown[] }> {
    return this.#kept;
  }

  /** Call `listener` on every state change; returns a function that unsubscribes it. */
  onState(listener: StateListener): () => void {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  /** Call `listener` with the outcome of each kept request sent again after a reconnect;
   * returns an unsubscribe function. */
  onRejoin(listener: RejoinListener): () => void {
    this.#rejoinListeners.add(listener);
    return () => this.#rejoinListeners.delete(listener);
  }

  /** Listen to a server event; returns an unsubscribe function. */
  on<E extends keyof Listen & string>(event: E, listener: Listen[E]): () => void {
    // With connection-state recovery the server adds an offset as a last argument, which
    // socket.io-client keeps for itself: the listener gets the event's own arguments.
    const raw = this.socket as unknown as LooseSocket;
    const handler = (...args: unknown[]) => (listener as (...args: unknown[]) => void)(...args);
    raw.on(event, handler);
    return () => void raw.off(event, handler);
  }

  /** Send an event without waiting for an answer (socket.io-client buffers it while disconnected). */
  emit<E extends keyof Emit & string>(event: E, ...args: Parameters<Emit[E]>): void {
    (this.socket as unknown as LooseSocket).emit(event, ...args);
  }

  /** One acknowledged request: waits for the connection, then for the ack, within
   * `requestTimeout` ms. */
  request<E extends RequestEvents<Emit>>(event: E, ...args: RequestArgs<Emit[E]>): Promise<Reply<Emit[E]>> {
    return this.requestWithin(this.requestTimeout, event, ...args);
  }

  /** {@link request} with its own timeout in milliseconds. */
  async requestWithin<E extends RequestEvents<Emit>>(
    timeout: number,
    event: E,
    ...args: RequestArgs<Emit[E]>
  ): Promise<Reply<Emit[E]>> {
    const deadline = Date.now() + timeout;
    await this.#whenReady(event, timeout);
    return (await this.#send(event, args, Math.max(1, deadline - Date.now()), timeout)) as Reply<Emit[E]>;
  }

  /**
   * {@link request}, kept under `key` (default: the event and its arguments as JSON) and sent
   * again after every reconnect that did not recover the session, until `forget(key)`. A
   * refusal forgets it; a request that is refused now is not kept.
   */
  async keep<E extends RequestEvents<Emit>>(event: E, ...args: RequestArgs<Emit[E]>): Promise<Reply<Emit[E]>> {
    return this.keepAs(keyOf(event, args), event, ...args);
  }

  /** {@link keep} under a key of the caller's choice (a later `keepAs` with it replaces it). */
  async keepAs<E extends RequestEvents<Emit>>(
    key: string,
    event: E,
    ...args: RequestArgs<Emit[E]>
  ): Promise<Reply<Emit[E]>> {
    const reply = await this.request(event, ...args);
    this.remember(key, event, ...args);
    return reply;
  }

  /** Send `event` with `args` after every reconnect that did not recover the session, without
   * sending it now: for a first request that differs from the later ones (it asked for history). */
  remember<E extends RequestEvents<Emit>>(key: string, event: E, ...args: RequestArgs<Emit[E]>): void {
    this.#kept.set(key, { event, args });
  }

  /** Stop sending a kept request after reconnects (`key`: as given to `keepAs`, or the event
   * and the arguments given to `keep`). Returns whether it was kept. */
  forget(key: string): boolean;
  forget<E extends RequestEvents<Emit>>(event: E, ...args: RequestArgs<Emit[E]>): boolean;
  forget(key: string, ...args: unknown[]): boolean {
    if (args.length === 0 && this.#kept.delete(key)) return true;
    return this.#kept.delete(keyOf(key, args));
  }

  /** Disconnect for good: pending requests reject with `closed`, the state becomes `offline`. */
  close(): void {
    this.#closed = true;
    this.#notReady();
    this.socket.disconnect();
    for (const waiter of this.#waiters) {
      waiter.reject(new SocketsvcError(CLOSED, "the client was closed"));
    }
    this.#waiters.clear();
    this.#setState("offline");
  }

  /** Whether the client is connected and every kept request was sent again. */
  get ready(): boolean {
    return this.#ready;
  }

  async #send(event: string, args: readonly unknown[], timeout: number, budget: number): Promise<unknown> {
    let reply: unknown;
    try {
      reply = await (this.socket as unknown as LooseSocket).timeout(timeout).emitWithAck(event, ...args);
    } catch {
      throw new SocketsvcError(TIMEOUT, `no answer to '${event}' within ${budget} ms`, event);
    }
    if (isErrorAck(reply)) throw new SocketsvcError(reply.error.code, reply.error.message, event);
    return reply;
  }

  #whenReady(event: string, timeout: number): Promise<void> {
    if (this.#ready) return Promise.resolve();
    if (this.#closed) return Promise.reject(new SocketsvcError(CLOSED, "the client was closed", event));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new SocketsvcError(TIMEOUT, `not connected within ${timeout} ms to send '${event}'`, event));
      }, timeout);
      this.#waiters.add(waiter);
    });
  }

  async #onConnect(): Promise<void> {
    const generation = ++this.#generation;
    if (this.rejoin && this.#kept.size > 0 && !this.socket.recovered) {
      await Promise.all(
        [...this.#kept].map(async ([key, kept]) => {
          const result: Rejoined = { key, event: kept.event, args: kept.args };
          try {
            result.reply = await this.#send(kept.event, kept.args, this.requestTimeout, this.requestTimeout);
          } catch (error) {
            result.error = error as SocketsvcError;
            // A refusal is final (forget it); a timeout leaves it for the next reconnect.
            if (result.error.code !== TIMEOUT && this.#kept.get(key) === kept) this.#kept.delete(key);
          }
          if (generation === this.#generation) {
            for (const listener of this.#rejoinListeners) listener(result);
          }
        }),
      );
    }
    if (generation !== this.#generation || !this.socket.connected || this.#closed) return;
    this.#ready = true;
    for (const waiter of this.#waiters) waiter.resolve();
    this.#waiters.clear();
    this.#setState("connected");
  }

  #notReady(): void {
    this.#ready = false;
    this.#generation++;
  }

  #setState(state: ConnectionState, error?: Error): void {
    if (this.#closed && state !== "offline") return;
    // the socket closing after the session expired does not hide why (close() still does)
    if (this.#state === "expired" && state === "offline" && !this.#closed) return;
    if (state === this.#state && error === undefined) return;
    this.#state = state;
    for (const listener of this.#stateListeners) listener(state, error);
  }
}

function keyOf(event: string, args: readonly unknown[]): string {
  return `${event} ${JSON.stringify(args)}`;
}
