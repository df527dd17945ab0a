/**
 * The `/chat` wire contract of socketsvc, as TypeScript types.
 *
 * The event maps and payload types come from `./contract.ts`, which `npm run contract` writes
 * from the server's handler module (`socketsvc/handlers/chat.py`, via `socketsvc contract`);
 * a test fails when the two drift. Limits the server enforces (`room` 1–64 characters,
 * `name` 1–32, `text` 1–4000, no control characters in `room` or `name`) are in its doc
 * comments; a payload that breaks them is answered with `invalid_payload`.
 */
import type {
  ChatClientToServerEvents,
  ChatServerToClientEvents,
  JoinAck,
  JoinRequest,
  LeaveAck,
  MembersAck,
  MessageAck,
  MessageRequest,
  RoomMember,
  RoomRequest,
} from "./contract.js";

export type * from "./contract.js";

/** Error codes socketsvc itself sends; applications may add their own. */
export type ServerErrorCode =
  | "unknown_event"
  | "invalid_payload"
  | "internal"
  | "not_in_room"
  | "forbidden"
  | "ack_timeout"
  | "invalid_namespace";

/** Events the server emits on `/chat` (typed `socket.on(...)`). */
export type ChatServerEvents = ChatServerToClientEvents;

/** Events a client emits on `/chat`; every one but `typing` is acknowledged. */
export type ChatClientEvents = ChatClientToServerEvents;

/** Someone joined a room the client is in. */
export type JoinedEvent = RoomMember;
/** Someone left a room the client is in. */
export type LeftEvent = RoomMember;
/** Someone in a room the client is in is typing. */
export type TypingEvent = RoomMember;

/** Request payload and successful ack of each acknowledged `/chat` event. */
export interface ChatRequests {
  join: [JoinRequest, JoinAck];
  message: [MessageRequest, MessageAck];
  leave: [RoomRequest, LeaveAck];
  members: [RoomRequest, MembersAck];
}
