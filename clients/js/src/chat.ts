/**
 * The `/chat` wire contract of socketsvc (see `socketsvc/handlers/chat.py`), as TypeScript types.
 *
 * Limits enforced by the server: `room` 1–64 characters, `name` 1–32, `text` 1–4000, no control
 * characters in `room` or `name`. A payload that breaks them is answered with `invalid_payload`.
 */

/** The error ack every socketsvc handler may answer with instead of its normal ack. */
export interface ErrorAck {
  error: { code: string; message: string };
}

/** Error codes socketsvc itself sends; applications may add their own. */
export type ServerErrorCode =
  | "unknown_event"
  | "invalid_payload"
  | "internal"
  | "not_in_room"
  | "forbidden"
  | "ack_timeout"
  | "invalid_namespace";

// -- client -> server payloads and acks ---------------------------------------------------------

export interface JoinRequest {
  room: string;
  name: string;
  /** Ask for up to this many of the room's latest messages (the server caps it). */
  history?: number;
}
export interface JoinAck {
  room: string;
  /** Display names of everyone in the room, including the caller. */
  members: string[];
  /** The room's latest messages, oldest first, when the join asked for `history`. */
  history?: ChatMessage[];
}

export interface MessageRequest {
  room: string;
  text: string;
  /** The same for every retry of one message: a retry is answered, never delivered twice. */
  client_id?: string;
}
export interface MessageAck {
  /** Server-assigned message id (hex). */
  id: string;
  /** Server time in milliseconds since the epoch. */
  ts: number;
}

export interface RoomRequest {
  room: string;
}
export interface LeaveAck {
  room: string;
}
export interface MembersAck {
  room: string;
  members: string[];
}

// -- server -> client events --------------------------------------------------------------------

export interface JoinedEvent {
  room: string;
  name: string;
}
export interface LeftEvent {
  room: string;
  name: string;
}
export interface ChatMessage {
  id: string;
  room: string;
  name: string;
  text: string;
  ts: number;
}
export interface TypingEvent {
  room: string;
  name: string;
}

/** Events the server emits on `/chat` (typed `socket.on(...)`). */
export interface ChatServerEvents {
  joined: (event: JoinedEvent) => void;
  left: (event: LeftEvent) => void;
  message: (event: ChatMessage) => void;
  typing: (event: TypingEvent) => void;
}

/** Events a client emits on `/chat`; every one but `typing` is acknowledged. */
export interface ChatClientEvents {
  join: (payload: JoinRequest, ack: (reply: JoinAck | ErrorAck) => void) => void;
  message: (payload: MessageRequest, ack: (reply: MessageAck | ErrorAck) => void) => void;
  leave: (payload: RoomRequest, ack: (reply: LeaveAck | ErrorAck) => void) => void;
  members: (payload: RoomRequest, ack: (reply: MembersAck | ErrorAck) => void) => void;
  typing: (payload: RoomRequest) => void;
}

/** Request payload and successful ack of each acknowledged `/chat` event. */
export interface ChatRequests {
  join: [JoinRequest, JoinAck];
  message: [MessageRequest, MessageAck];
  leave: [RoomRequest, LeaveAck];
  members: [RoomRequest, MembersAck];
}
