import type { Socket } from "socket.io-client";
import type {
  ChatClientEvents,
  ChatRequests,
  ChatServerEvents,
  JoinAck,
  LeaveAck,
  MembersAck,
  MessageAck,
} from "./chat.js";
import { connect, type ConnectOptions } from "./connect.js";
import { CLOSED, isErrorAck, SocketsvcError, TIMEOUT } from "./errors.js";
import { tokenSession } from "./session.js";

export type ChatSocket = Socket<ChatServerEvents, ChatClientEvents>;

/**
 * - `connecting`: first connection attempt under way.
 * - `connected`: connected, and every room joined before a reconnect has been rejoined.
 * - `reconnecting`: the connection dropped (or an attempt failed); retrying with back-off.
 * - `offline`: not trying any more (closed by `close()`, refused by the server, or out of attempts).
 * - `expired`: the server ended the session because its token expired, and no fresh token could be
 *   had (`getToken`); sign the user in again, then `socket.connect()`. Comes with a
 *   `SocketsvcError` whose code is `session_expired`.
 */
export type ConnectionState = "connecting" | "connected" | "reconnecting" | "offline" | "expired";

export interface ChatClientOptions {
  /** Milliseconds a request may wait for its ack (including time spent reconnecting). Default 5000. */
  requestTimeout?: number;
  /** Join the client's rooms again after every reconnect. Default true. */
  rejoin?: boolean;
  /** Times `send` tries again after a timeout, with the same message id. Default 2. */
  sendRetries?: number;
}

/** Outcome of rejoining one room after a reconnect: `members` on success, `error` otherwise. */
export interface RejoinResult {
  room: string;
  name: string;
  members?: string[];
  error?: SocketsvcError;
}

type StateListener = (state: ConnectionState, error?: Error) => void;
type RejoinListener = (result: RejoinResult) => void;
type Waiter = { resolve: () => void; reject: (error: Error) => void };
// The typed Socket's emitWithAck signature is too clever for a generic wrapper; requests go
// through this loosely typed view, and the public methods carry the precise types.
type LooseSocket = {
  timeout(ms: number): { emitWithAck(event: string, payload: unknown): Promise<unknown> };
};

export const DEFAULT_REQUEST_TIMEOUT = 5000;
export const DEFAULT_SEND_RETRIES = 2;

/** A message id for retries: unique per message, the same for each of its attempts. */
function messageId(): string {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (crypto?.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}

/**
 * The `/chat` namespace as promises: each request resolves with its ack, or rejects with a
 * {@link SocketsvcError} carrying the server's `code` (or `timeout`). Remembers the rooms it is
 * in and rejoins them after a reconnect, so a dropped connection costs the caller nothing.
 *
 * Requests made while disconnected wait for the reconnect (and the rejoin) within their
 * timeout, so they are never sent before their room has been rejoined.
 */
export class ChatClient {
  /** socket.io-client's Socket underneath, for anything this class does not wrap. */
  readonly socket: ChatSocket;
  readonly requestTimeout: number;
  readonly rejoin: boolean;
  readonly sendRetries: number;

  #rooms = new Map<string, string>();
  #state: ConnectionState;
  #ready = false;
  #generation = 0;
  #closed = false;
  #waiters = new Set<Waiter>();
  #stateListeners = new Set<StateListener>();
  #rejoinListeners = new Set<RejoinListener>();

  /** Connect to `url` (default: the page's origin) and wrap the socket. */
  static connect(url?: string, options: ConnectOptions & ChatClientOptions = {}): ChatClient {
    const { requestTimeout, rejoin, sendRetries, ...connectOptions } = options;
    const chatOptions: ChatClientOptions = {};
    if (requestTimeout !== undefined) chatOptions.requestTimeout = requestTimeout;
    if (rejoin !== undefined) chatOptions.rejoin = rejoin;
    if (sendRetries !== undefined) chatOptions.sendRetries = sendRetries;
    return new ChatClient(connect(url, connectOptions), chatOptions);
  }

  constructor(socket: ChatSocket, options: ChatClientOptions = {}) {
    this.socket = socket;
    this.requestTimeout = options.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT;
    this.rejoin = options.rejoin ?? true;
    this.sendRetries = options.sendRetries ?? DEFAULT_SEND_RETRIES;
    this.#state = socket.connected ? "connected" : socket.active ? "connecting" : "offline";
    this.#ready = socket.connected;
    socket.on("connect", () => void this.#onConnect());
    const session = tokenSession(socket);
    socket.on("disconnect", () => {
      this.#notReady();
      if (session?.expired) return; // its onExpired listener sets "expired"
      this.#setState(socket.active ? "reconnecting" : "offline");
    });
    socket.on("connect_error", (error: Error) => {
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

  /** Rooms this client is in (room -> display name), as rejoined after a reconnect. */
  get rooms(): ReadonlyMap<string, string> {
    return this.#rooms;
  }

  /** Call `listener` on every state change; returns a function that unsubscribes it. */
  onState(listener: StateListener): () => void {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  /** Call `listener` with the outcome of each automatic rejoin; returns an unsubscribe function. */
  onRejoin(listener: RejoinListener): () => void {
    this.#rejoinListeners.add(listener);
    return () => this.#rejoinListeners.delete(listener);
  }

  /** Listen to a server event (`joined`, `left`, `message`, `typing`); returns an unsubscribe function. */
  on<E extends keyof ChatServerEvents>(event: E, listener: ChatServerEvents[E]): () => void {
    // The cast only bridges socket.io's conditional listener type; `listener` is checked above.
    const socket = this.socket as unknown as {
      on(event: string, listener: unknown): unknown;
      off(event: string, listener: unknown): unknown;
    };
    // With connection-state recovery the server adds an offset as a last argument, which
    // socket.io-client keeps for itself: the listener gets the event alone.
    const handler = (payload: unknown) => (listener as (payload: unknown) => void)(payload);
    socket.on(event, handler);
    return () => void socket.off(event, handler);
  }

  /**
   * Join `room` as `name`; resolves with everyone in it, and with up to `history` of its
   * latest messages when asked.
   */
  async join(room: string, name: string, options: { history?: number } = {}): Promise<JoinAck> {
    const request: ChatRequests["join"][0] = { room, name };
    if (options.history !== undefined) request.history = options.history;
    const ack = await this.request("join", request);
    this.#rooms.set(room, name);
    return ack;
  }

  /**
   * Send `text` to `room`; resolves with the message's id and server time. A send whose ack
   * does not come in time is tried again (`sendRetries` times) with the same message id, and
   * the server delivers it once.
   */
  async send(room: string, text: string): Promise<MessageAck> {
    const payload = { room, text, client_id: messageId() };
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.request("message", payload);
      } catch (error) {
        if ((error as SocketsvcError).code !== TIMEOUT || attempt >= this.sendRetries) throw error;
      }
    }
  }

  /** Leave `room`. The room is forgotten at once, so it is not rejoined even if this fails. */
  leave(room: string): Promise<LeaveAck> {
    this.#rooms.delete(room);
    return this.request("leave", { room });
  }

  /** Everyone in `room` (the caller must be in it). */
  members(room: string): Promise<MembersAck> {
    return this.request("members", { room });
  }

  /** Tell the room the caller is typing. Best effort: dropped (returns false) when not connected. */
  typing(room: string): boolean {
    if (!this.#ready) return false;
    this.socket.volatile.emit("typing", { room });
    return true;
  }

  /** One acknowledged request: waits for the connection, then for the ack, within `timeout` ms. */
  async request<E extends keyof ChatRequests>(
    event: E,
    payload: ChatRequests[E][0],
    timeout: number = this.requestTimeout,
  ): Promise<ChatRequests[E][1]> {
    const deadline = Date.now() + timeout;
    await this.#whenReady(event, timeout);
    return (await this.#emit(event, payload, Math.max(1, deadline - Date.now()), timeout)) as ChatRequests[E][1];
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

  async #emit(event: string, payload: unknown, timeout: number, budget: number): Promise<unknown> {
    let reply: unknown;
    try {
      reply = await (this.socket as unknown as LooseSocket).timeout(timeout).emitWithAck(event, payload);
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
    if (this.rejoin && this.#rooms.size > 0 && !this.socket.recovered) {
      await Promise.all(
        [...this.#rooms].map(async ([room, name]) => {
          let result: RejoinResult;
          try {
            const ack = (await this.#emit("join", { room, name }, this.requestTimeout, this.requestTimeout)) as JoinAck;
            result = { room, name, members: ack.members };
          } catch (error) {
            const err = error as SocketsvcError;
            // A refusal is final (forget the room); a timeout leaves it for the next reconnect.
            if (err.code !== TIMEOUT && this.#rooms.get(room) === name) this.#rooms.delete(room);
            result = { room, name, error: err };
          }
          if (generation === this.#generation) this.#emitRejoin(result);
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

  #emitRejoin(result: RejoinResult): void {
    for (const listener of this.#rejoinListeners) listener(result);
  }
}
