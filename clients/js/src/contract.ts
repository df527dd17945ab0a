// The event contract of a socketsvc server, written by `socketsvc contract --format typescript`
// from its handler modules. Do not edit: run the command again when they change.
//
// With socket.io-client: `const socket: Socket<ChatServerToClientEvents,
// ChatClientToServerEvents> = io("https://example.com/chat")` (each namespace has its pair).

/** What an acknowledged event gets instead of its ack when it fails (`invalid_payload`,
 * `unknown_event`, `internal`, or the handler's own code). */
export interface ErrorAck {
  error: { code: string; message: string };
}

/** Events a client sends on `/chat` (socketsvc.handlers.chat:ChatNamespace). */
export interface ChatClientToServerEvents {
  /**
   * Join a room (named by the token, else by `name`); the room is told `joined`. The ack lists its
   * members, and its latest messages when `history` asks.
   */
  join: (req: JoinRequest, ack: (reply: JoinAck | ErrorAck) => void) => void;
  /** Leave a room; the room is told `left`. */
  leave: (req: RoomRequest, ack: (reply: LeaveAck | ErrorAck) => void) => void;
  /** The display names in a room one is in. */
  members: (req: RoomRequest, ack: (reply: MembersAck | ErrorAck) => void) => void;
  /**
   * Say something in a room; a retry with the same `client_id` is answered with the first ack and
   * not delivered again.
   */
  message: (req: MessageRequest, ack: (reply: MessageAck | ErrorAck) => void) => void;
  /** Tell a room one is typing (best effort, no ack needed). */
  typing: (req: RoomRequest, ack?: (error?: ErrorAck) => void) => void;
}

/**
 * Events the server sends on `/chat`. Connection-state recovery is on (120 s): the events kept for
 * clients that drop and come back (all but volatile ones and emits with an ack) carry their offset
 * as a last argument, which socket.io-client reads itself.
 */
export interface ChatServerToClientEvents {
  /** someone joined a room you are in */
  joined: (payload: RoomMember, offset?: string) => void;
  /** someone left a room you are in (or did not come back) */
  left: (payload: RoomMember, offset?: string) => void;
  /** a message in a room you are in */
  message: (payload: ChatMessage, offset?: string) => void;
  /** someone is typing (best effort, volatile) */
  typing: (payload: RoomMember, offset?: string) => void;
}

/**
 * A message as the room receives it (and as `history` returns it). (Python:
 * socketsvc.handlers.chat.ChatMessage)
 */
export interface ChatMessage {
  id: string;
  room: string;
  name: string;
  text: string;
  ts: number;
}

/** (Python: socketsvc.handlers.chat.JoinAck) */
export interface JoinAck {
  room: string;
  members: string[];
  history?: ChatMessage[];
}

/** (Python: socketsvc.handlers.chat.JoinRequest) */
export interface JoinRequest {
  /** length 1..64, matches `[^\x00-\x1f]+` in full */
  room: string;
  /** length 1..32, matches `[^\x00-\x1f]+` in full */
  name?: string | null;
  history?: number | null;
}

/** (Python: socketsvc.handlers.chat.LeaveAck) */
export interface LeaveAck {
  room: string;
}

/** (Python: socketsvc.handlers.chat.MembersAck) */
export interface MembersAck {
  room: string;
  members: string[];
}

/** (Python: socketsvc.handlers.chat.MessageAck) */
export interface MessageAck {
  id: string;
  ts: number;
}

/** (Python: socketsvc.handlers.chat.MessageRequest) */
export interface MessageRequest {
  /** length 1..64, matches `[^\x00-\x1f]+` in full */
  room: string;
  /** length 1..4000 */
  text: string;
  /** length 1..64 */
  client_id?: string | null;
}

/**
 * Someone in a room: who joined, left or is typing. (Python: socketsvc.handlers.chat.RoomMember)
 */
export interface RoomMember {
  room: string;
  name: string;
}

/** (Python: socketsvc.handlers.chat.RoomRequest) */
export interface RoomRequest {
  /** length 1..64, matches `[^\x00-\x1f]+` in full */
  room: string;
}
