"""The Engine.IO v4 wire format: packet types, decoding, and the two text/binary encodings.

Rule (engine.io-parser v4): a packet is its type digit followed by its data verbatim; over
long-polling a binary MESSAGE travels as ``b`` + base64, over websocket as a binary frame with
no type byte.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP = range(7)
TYPE_DIGITS = "0123456"  # each type's digit: TYPE_DIGITS[ptype] costs less than str(ptype)

Item = tuple[int, Any]  # (packet type, str | bytes | None)


class ProtocolError(Exception):
    """The client sent something the Engine.IO v4 protocol forbids."""


def decode_packet(raw: str | bytes, polling: bool) -> Item:
    """Decode one Engine.IO v4 packet; raise ProtocolError if invalid.

    Rule (engine.io-parser v4 decodePacket): the first character is the packet
    type 0-6, the rest is the data verbatim (no JSON decoding); over polling a
    leading ``b`` marks a base64 binary MESSAGE; a websocket binary frame is a
    MESSAGE with no type byte.
    """
    if isinstance(raw, (bytes, bytearray)):
        return MESSAGE, bytes(raw)
    if not raw:
        raise ProtocolError("empty packet")
    first = raw[0]
    if first == "b" and polling:
        try:
            return MESSAGE, base64.b64decode(raw[1:], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError("invalid base64 packet") from exc
    ptype = ord(first) - 48
    if not 0 <= ptype <= 6:
        raise ProtocolError("unknown packet type")
    return ptype, raw[1:]


# The first two bytes of a frame with a payload under 126 bytes, by payload size: FIN and the
# opcode (0x81 text, 0x82 binary), then the size. Built once: ``bytes((a, b))`` per frame costs
# more than the rest of the frame (bytes() first tries its argument as an integer).
_TEXT_HEAD = [bytes((0x81, size)) for size in range(126)]
_BINARY_HEAD = [bytes((0x82, size)) for size in range(126)]


def ws_frame(ptype: int, data: str | bytes | None) -> bytes:
    """One unmasked server-to-client websocket frame (RFC 6455 5.2) carrying a packet.

    Rule (EIO4): a binary MESSAGE is a binary frame with no type byte; everything else is a
    text frame ``<type><data>``."""
    if isinstance(data, bytes):
        heads, payload = _BINARY_HEAD, data
    else:
        heads, payload = (
            _TEXT_HEAD,
            (TYPE_DIGITS[ptype] + data if data else TYPE_DIGITS[ptype]).encode(),
        )
    size = len(payload)
    if size < 126:
        return heads[size] + payload
    head = heads[0][:1]
    if size < 65536:
        return head + b"\x7e" + size.to_bytes(2, "big") + payload
    return head + b"\x7f" + size.to_bytes(8, "big") + payload


def encode_text(item: Item) -> str:
    """Encode one packet for a text channel (polling payload or ws text)."""
    ptype, data = item
    if isinstance(data, bytes):
        return "b" + base64.b64encode(data).decode("ascii")
    return TYPE_DIGITS[ptype] + data if data else TYPE_DIGITS[ptype]


def payload_size(frames: list[Any]) -> int:
    """Payload bytes of queued messages (characters for text)."""
    return len(frames[0]) if len(frames) == 1 else sum(len(f) for f in frames)
