"""The values a setting with a choice may take, and what follows from a choice."""

from __future__ import annotations

SERIALIZERS = ("auto", "json", "msgpack")
MANAGERS = ("memory", "redis")
REDIS_PROTOCOLS = ("socketsvc", "socket.io", "socket.io-streams")
# redis_prefix when it is left empty: socketsvc's own, or Node's default key for its formats
DEFAULT_PREFIXES = {
    "socketsvc": "socketsvc",
    "socket.io": "socket.io",
    "socket.io-streams": "socket.io",
}
TRANSPORTS = ("polling", "websocket")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
AUTH_MODES = ("required", "optional", "none")
JWT_ALGORITHMS = ("HS256", "RS256", "ES256")
