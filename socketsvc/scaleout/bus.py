"""The Redis bus format: what one node (or an emitter) publishes for the others.

A bus message is the dict python-socketio's pub/sub managers exchange (``method``,
``host_id``, ``event``, ``data``, ``namespace``, ``room``, ``skip_sid``, ...) plus
``"v": 1``, encoded as msgpack. msgpack, not JSON, because it carries what clients can send
unchanged: bytes (no base64), non-string map keys, NaN, 64-bit integers. It is independent of
each client's wire format; the receiving node encodes once per format for its own clients.

One method is socketsvc's own: ``disconnect_clients`` with the fields of a
:class:`~socketsvc.sio.disconnects.Selection` (``subject``, ``sid``, ``namespace``, ``room``);
nodes of an older version ignore it (with a warning).

For interoperability, JSON messages from stock python-socketio emitters
(``socketio.AsyncRedisManager(write_only=True)`` on the same channel) are accepted too.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack

from socketsvc.errors import Unencodable
from socketsvc.protocol.values import fields_of, unsupported_value

VERSION = 1
# socketsvc's own: close the connections a Selection names (sio/disconnects.py), on every node
DISCONNECT_CLIENTS = "disconnect_clients"
METHODS = frozenset(
    {
        "emit",
        "callback",
        "disconnect",
        "enter_room",
        "leave_room",
        "close_room",
        DISCONNECT_CLIENTS,
    }
)


class BadMessage(ValueError):
    """Something on the channel that is not a bus message this version understands:
    ``cause`` says what, in a few words (a metric's label), ``detail`` more."""

    def __init__(self, cause: str, detail: str = "") -> None:
        super().__init__(f"{cause} ({detail})" if detail else cause)
        self.cause = cause
        self.detail = detail


def channel(prefix: str) -> str:
    """The pub/sub channel shared by every node configured with ``redis_prefix = prefix``."""
    return f"{prefix}:bus"


# Strings cross the bus as Python holds them, lone surrogates included ("surrogatepass"):
# whether a client can receive one is for the receiving node to decide per wire format.
_PACKER = msgpack.Packer(
    use_bin_type=True, unicode_errors="surrogatepass", autoreset=True, default=fields_of
)


def pack(value: Any) -> bytes:
    """``value`` as nodes exchange it through Redis (the bus, the recovery stream, kept
    sessions): dataclasses as their fields, strings as Python holds them. Raises
    :class:`UnsupportedValue` for a type no wire format carries and :class:`Unencodable` for
    what msgpack cannot (an int past 64 bits, nesting past 1024 levels)."""
    try:
        return _PACKER.pack(value)  # type: ignore[no-any-return]
    except TypeError as exc:
        _PACKER.reset()  # drop what a failed pack left behind
        raise unsupported_value(value, exc) from None
    except (OverflowError, ValueError) as exc:
        _PACKER.reset()
        raise Unencodable.from_exception("other nodes", exc) from None


def unpack(raw: bytes) -> Any:
    """What :func:`pack` packed (map keys of any type, lone surrogates kept)."""
    return msgpack.unpackb(raw, raw=False, strict_map_key=False, unicode_errors="surrogatepass")


def encode(message: dict[str, Any]) -> bytes:
    """Bytes to publish; raises as :func:`pack` does."""
    return pack({**message, "v": VERSION})


def decode(raw: bytes | str) -> dict[str, Any]:
    """The message in ``raw``, or :class:`BadMessage` saying why it is not one."""
    try:
        if isinstance(raw, str) or raw[:1] == b"{":
            message = json.loads(raw)  # a stock python-socketio emitter
            version: Any = VERSION
        else:
            message = unpack(raw)
            version = message.get("v") if isinstance(message, dict) else None
    except Exception as exc:  # msgpack raises many types on garbage
        raise BadMessage("undecodable message", type(exc).__name__) from None
    if not isinstance(message, dict):
        raise BadMessage("not a map")
    if version != VERSION:
        raise BadMessage("unsupported version", repr(version)[:40])
    if message.get("method") not in METHODS:
        raise BadMessage("unknown method", repr(str(message.get("method"))[:40]))
    return message


# -- the recovery stream (scaleout/redis_recovery.py), which an emitter writes too ----------


def stream_key(prefix: str) -> str:
    """The recovery stream of every node configured with ``redis_prefix = prefix``."""
    return f"{prefix}:recovery"


def stream_entry(
    namespace: str,
    rooms: frozenset[str] | None,
    skip: frozenset[str],
    args: list[Any],
    origin: str = "",
) -> dict[str, bytes]:
    """The fields of one stored emit in the recovery stream; ``origin``: the node that wrote
    it (metrics tell its own entries from the others'), empty from an emitter. Packed as bus
    messages are, and raises as :func:`~socketsvc.scaleout.bus.pack` does."""
    body = pack([namespace, None if rooms is None else sorted(rooms), sorted(skip), args])
    return {"m": body, "o": origin.encode()}
