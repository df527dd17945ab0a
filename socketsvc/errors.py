"""Errors are data: a code a client can switch on, a message a person can read.

Handlers raise :class:`SocketsvcError`; the dispatcher turns it into the ack payload
``{"error": {"code": ..., "message": ...}}``. Any other exception becomes ``internal`` and is
logged with its traceback on the server only.
"""

from __future__ import annotations

import logging
from typing import Any

# Well-known codes. Applications may use their own codes; these are the ones socketsvc emits.
UNKNOWN_EVENT = "unknown_event"
INVALID_PAYLOAD = "invalid_payload"
INTERNAL = "internal"
NOT_IN_ROOM = "not_in_room"
FORBIDDEN = "forbidden"
ACK_TIMEOUT = "ack_timeout"
INVALID_NAMESPACE = "invalid_namespace"
UNENCODABLE = "unencodable"
CLUSTER_TIMEOUT = "cluster_timeout"
UNAVAILABLE = "unavailable"  # a handler's Redis call failed (services.redis): retry later
# connect refusals (CONNECT_ERROR data.code) and limits; see docs/security.md
UNAUTHORIZED = "unauthorized"
TOKEN_EXPIRED = "token_expired"
TOKEN_INVALID = "token_invalid"
TOKEN_REVOKED = "token_revoked"
# token refresh (``auth:refresh``) answers, besides the connect refusals
TOKEN_SUBJECT_CHANGED = "token_subject_changed"
AUTH_NOT_REQUIRED = "auth_not_required"
RATE_LIMITED = "rate_limited"
LIMIT_EXCEEDED = "limit_exceeded"


class SocketsvcError(Exception):
    """An error whose code and message are safe to show to the client."""

    def __init__(self, code: str, message: str, *, temporary: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.temporary = temporary

    def to_ack(self) -> dict[str, Any]:
        """The single ack argument a client receives for this error."""
        return error_ack(self.code, self.message)


class InvalidPayload(SocketsvcError):
    """The event's data does not match what the handler declared; ``field`` names the culprit."""

    def __init__(self, field: str, problem: str) -> None:
        where = f"'{field}'" if field else "payload"
        super().__init__(INVALID_PAYLOAD, f"{where} {problem}")
        self.field = field
        self.problem = problem


class AckTimeout(SocketsvcError):
    """A client did not acknowledge a server call in time (it may be slow, or gone)."""

    def __init__(self, event: str, timeout: float) -> None:
        super().__init__(
            ACK_TIMEOUT,
            f"client did not acknowledge '{event}' within {timeout:g}s",
            temporary=True,
        )
        self.event = event
        self.timeout = timeout


class ClusterTimeout(SocketsvcError):
    """Not every node of the cluster answered a cluster-wide request in time (a node is
    slow, or went away between counting and asking); ``partial`` holds the answers that came."""

    def __init__(self, what: str, answered: int, expected: int, partial: list[Any]) -> None:
        super().__init__(
            CLUSTER_TIMEOUT,
            f"{what}: {answered} of {expected} other nodes answered in time",
            temporary=True,
        )
        self.partial = partial


class Unencodable(SocketsvcError):
    """Data that cannot cross to clients of one wire format without changing.

    ``cause`` names the kind of problem without the data in it (``"lone surrogate"``,
    ``"nesting"``...): logs say each cause once, however often clients repeat it."""

    def __init__(self, wire_format: str, reason: str, cause: str | None = None) -> None:
        super().__init__(UNENCODABLE, f"cannot send to {wire_format} clients unchanged: {reason}")
        self.wire_format = wire_format
        self.cause = f"{wire_format}: {cause or reason}"

    @classmethod
    def from_exception(cls, wire_format: str, exc: BaseException) -> Unencodable:
        """From what an encoder raised, in words a client can act on."""
        text = str(exc)
        if isinstance(exc, UnicodeEncodeError):
            reason, cause = LONE_SURROGATE_REASON, "lone surrogate"
        elif isinstance(exc, RecursionError) or "recursion limit" in text:
            reason, cause = "data is nested too deeply", "nesting"
        elif "Out of range float" in text:
            reason = cause = "NaN and Infinity have no JSON form"
        elif "keys must be" in text:
            reason = cause = "map keys must be strings"
        else:
            reason, cause = text.split("\n")[0][:120], type(exc).__name__
        return cls(wire_format, reason, cause)


LONE_SURROGATE_REASON = "strings must be valid Unicode (a lone surrogate has no UTF-8 form)"


class UnsupportedValue(TypeError):
    """A handler sent a value of a type no wire format carries (a set, an arbitrary object).

    Not a :class:`SocketsvcError`: it is a bug in the handler, not something the client can
    fix, so the client is answered ``internal`` and the server logs it once per cause."""

    def __init__(self, type_name: str) -> None:
        article = "an" if type_name[:1] in "aeiou" else "a"
        super().__init__(
            f"{article} {type_name} cannot be sent: send str, int, float, bool, None, bytes, "
            "lists, tuples, maps with string keys or dataclasses"
        )
        self.type_name = type_name


class ConfigError(Exception):
    """A setting or handler module is wrong; start-up stops with exit status 2."""


class StartupError(Exception):
    """A handler class's start-up hook failed; start-up stops with exit status 1."""


def error_ack(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class OncePerCause:
    """Logs a warning the first time each cause is seen, then stays quiet about it.

    For problems clients can repeat at will (data some format cannot carry): one line per
    cause, never one per packet. Causes are short keys without the client's data in them;
    at most ``limit`` are remembered, so hostile variety cannot grow memory either."""

    def __init__(self, logger: logging.Logger, limit: int = 1000) -> None:
        self.logger = logger
        self.limit = limit
        self._seen: set[str] = set()

    def __call__(self, cause: str, message: str, *args: Any) -> None:
        if cause in self._seen:
            return
        if len(self._seen) >= self.limit:
            return
        self._seen.add(cause)
        self.logger.warning(message + " (logged once per cause)", *args)
