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
import { SocketsvcError, TIMEOUT } from "./errors.js";
import { type ConnectionState, NamespaceClient, type StateListener } from "./namespace.js";

export type ChatSocket = Socket<ChatServerEvents, ChatClientEvents>;

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

export type ChatRejoinListener = (result: RejoinResult) => void;

export const DEFAULT_SEND_RETRIES = 2;

/** A message id for retries: unique per message, the same for each of its attempts. */
function messageId(): string {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (crypto?.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}

/**
 * The `/chat` namespace as promises, on a {@link NamespaceClient}: each request resolves with
 * its ack, or rejects with a {@link SocketsvcError} carrying the server's `code` (or
 * `timeout`). A joined room is a kept request: it is joined again after a reconnect, so a
 * dropped connection costs the caller nothing.
 */
export class ChatClient {
  /** The generic client underneath (`request`, `keep`, `emit` for anything not wrapped here). */
  readonly client: NamespaceClient<ChatServerEvents, ChatClientEvents>;
  readonly sendRetries: number;

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
    const { sendRetries, ...own } = options;
    this.client = new NamespaceClient(socket, own);
    this.sendRetries = sendRetries ?? DEFAULT_SEND_RETRIES;
  }

  /** socket.io-client's Socket underneath, for anything this class does not wrap. */
  get socket(): ChatSocket {
    return this.client.socket;
  }

  get requestTimeout(): number {
    return this.client.requestTimeout;
  }

  get rejoin(): boolean {
    return this.client.rejoin;
  }

  get state(): ConnectionState {
    return this.client.state;
  }

  /** Rooms this client is in (room -> display name), as rejoined after a reconnect. */
  get rooms(): ReadonlyMap<string, string> {
    const rooms = new Map<string, string>();
    for (const [room, { args }] of this.client.kept) rooms.set(room, (args[0] as { name: string }).name);
    return rooms;
  }

  /** Call `listener` on every state change; returns a function that unsubscribes it. */
  onState(listener: StateListener): () => void {
    return this.client.onState(listener);
  }

  /** Call `listener` with the outcome of each automatic rejoin; returns an unsubscribe function. */
  onRejoin(listener: ChatRejoinListener): () => void {
    return this.client.onRejoin(({ key, args, reply, error }) => {
      const result: RejoinResult = { room: key, name: (args[0] as { name: string }).name };
      if (reply !== undefined) result.members = (reply as JoinAck).members;
      if (error !== undefined) result.error = error;
      listener(result);
    });
  }

  /** Listen to a server event (`joined`, `left`, `message`, `typing`); returns an unsubscribe function. */
  on<E extends keyof ChatServerEvents & string>(event: E, listener: ChatServerEvents[E]): () => void {
    return this.client.on(event, listener);
  }

  /**
   * Join `room` as `name`; resolves with everyone in it, and with up to `history` of its
   * latest messages when asked (the rejoins after a reconnect ask for none).
   */
  async join(room: string, name: string, options: { history?: number } = {}): Promise<JoinAck> {
    const request: ChatRequests["join"][0] = { room, name };
    if (options.history === undefined) return this.client.keepAs(room, "join", request);
    const ack = await this.request("join", { ...request, history: options.history });
    this.client.remember(room, "join", request);
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
    this.client.forget(room);
    return this.request("leave", { room });
  }

  /** Everyone in `room` (the caller must be in it). */
  members(room: string): Promise<MembersAck> {
    return this.request("members", { room });
  }

  /** Tell the room the caller is typing. Best effort: dropped (returns false) when not connected. */
  typing(room: string): boolean {
    if (!this.client.ready) return false;
    this.socket.volatile.emit("typing", { room });
    return true;
  }

  /** One acknowledged request: waits for the connection, then for the ack, within `timeout` ms. */
  request<E extends keyof ChatRequests>(
    event: E,
    payload: ChatRequests[E][0],
    timeout: number = this.requestTimeout,
  ): Promise<ChatRequests[E][1]> {
    // ChatRequests names the same events and types as the contract; only the generic view is loose
    const client = this.client as unknown as { requestWithin(ms: number, ...args: unknown[]): Promise<unknown> };
    return client.requestWithin(timeout, event, payload) as Promise<ChatRequests[E][1]>;
  }

  /** Disconnect for good: pending requests reject with `closed`, the state becomes `offline`. */
  close(): void {
    this.client.close();
  }
}
