import type { ErrorAck } from "./chat.js";

/** Client-side error codes; the server's own codes are listed in `ServerErrorCode`. */
export const TIMEOUT = "timeout";
export const CLOSED = "closed";

/**
 * A request that failed: the server answered `{error: {code, message}}`, no answer came in time
 * (`code === "timeout"`), or the client was closed while waiting (`code === "closed"`).
 */
export class SocketsvcError extends Error {
  /** Machine-readable code, e.g. `not_in_room`, `invalid_payload`, `timeout`. */
  readonly code: string;
  /** The event whose request failed, when known. */
  readonly event: string | undefined;

  constructor(code: string, message: string, event?: string) {
    super(message);
    this.name = "SocketsvcError";
    this.code = code;
    this.event = event;
  }
}

/** True when an ack has socketsvc's error shape `{error: {code, message}}`. */
export function isErrorAck(reply: unknown): reply is ErrorAck {
  if (typeof reply !== "object" || reply === null || !("error" in reply)) return false;
  const error: unknown = (reply as { error: unknown }).error;
  return (
    typeof error === "object" &&
    error !== null &&
    typeof (error as { code?: unknown }).code === "string"
  );
}
