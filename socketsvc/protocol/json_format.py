"""The socket.io-parser wire format (JSON text packets plus binary attachments), strict on
input and exact on output."""

from __future__ import annotations

import json
import json.scanner
import re
from typing import Any

import orjson
from socketio import packet as sio_packet

from socketsvc.errors import Unencodable

from .packets import (
    BINARY_ACK,
    BINARY_EVENT,
    DIGITS,
    MAX_ATTACHMENTS,
    PacketError,
    Parsed,
    check,
    is_digits,
)
from .values import fields_of, unsupported_value


def _reject_constant(text: str) -> Any:
    raise PacketError(f"{text} is not valid JSON")


# orjson encodes (a maintained C library, several times faster than the json module on the
# small packets every ack and emit is made of). It refuses, so that the exact path below
# decides, everything whose JSON form socketsvc defines differently: integers beyond 2**53
# (STRICT_INTEGER), lone surrogates, non-string map keys, bytes (attachments), nesting past
# its 254 levels, and types it would otherwise write in its own way (dataclasses go through
# ``fields_of`` as in the msgpack format; datetimes are not data). It writes NaN and
# Infinity as ``null``: output holding ``null`` is therefore encoded again the exact way.
_FAST_OPTIONS = (
    orjson.OPT_STRICT_INTEGER | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
)
_fast_dumps = orjson.dumps
# The exact path: the json module's own encoder (public API), compact, UTF-8 kept as is.
_exact_encode = json.JSONEncoder(
    ensure_ascii=False,
    check_circular=False,
    allow_nan=False,
    separators=(",", ":"),
    default=fields_of,
).encode
# The json module's scanner for its strict decoder (json.scanner.make_scanner, the C one):
# one value from an index on. Integer literals are bounded by int_max_str_digits (4300 digits).
_STRICT = json.JSONDecoder(parse_constant=_reject_constant)
_scan = json.scanner.make_scanner(_STRICT)  # type: ignore[arg-type]  # typeshed: a decoder


def dumps(value: Any) -> str:
    """Compact JSON as socket.io-parser writes it.

    Raises ValueError for NaN/Infinity, :class:`Unencodable` for an integer beyond 2**53 (a
    JS client would round it), TypeError for what JSON has no form for (bytes, which travel
    as attachments, and types no format carries). Lone surrogates (a JS string may hold one,
    and ``"\\udfff"`` is valid JSON) are written as ``\\uXXXX`` escapes, as
    ``JSON.stringify`` does: kept raw, the text would have no UTF-8 form and could not be sent.
    """
    try:
        fast = _fast_dumps(value, fields_of, _FAST_OPTIONS)
    except TypeError:
        return exact_dumps(value)
    if fast.find(b"null") != -1:  # not ``in``: bytes' ``in`` tries an int first, and raises
        return exact_dumps(value)
    text: str = fast.decode()
    return text


def exact_dumps(value: Any) -> str:
    """:func:`dumps` with the json module alone: the reference for every case orjson leaves."""
    text = _exact_encode(value)
    if has_lone_surrogate(text):
        text = _LONE_SURROGATE.sub(_escape_surrogate, text)
    if may_hold_unsafe_int(text):
        reject_unsafe_ints(value)
    return text


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds a surrogate code point, which no UTF-8 text can carry.

    ASCII is told in O(1); otherwise the C UTF-8 encoder finds out several times faster
    than a regular expression scan would."""
    if text.isascii():
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def loads(text: str, start: int = 0) -> Any:
    """Strict JSON: one value from ``start`` on, nothing after it; NaN/Infinity are refused."""
    try:
        value, end = _scan(text, start)
    except StopIteration:
        raise ValueError("expecting a JSON value") from None
    if end != len(text) and text[end:].strip():
        raise ValueError("extra data after the JSON value")
    return value


class _StrictJson:
    """The json module as the JSON parser clients expect it: no NaN/Infinity, UTF-8 kept as is."""

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        return dumps(obj)

    @staticmethod
    def loads(text: str | bytes, **kwargs: Any) -> Any:
        if isinstance(text, (bytes, bytearray)):
            text = text.decode()
        return loads(text)


class JsonPacket(Parsed, sio_packet.Packet):  # type: ignore[misc]
    """The default socket.io-parser format: text packets plus binary attachments."""

    json = _StrictJson
    problem: str | None = None

    @classmethod
    def data_is_binary(cls, data: Any) -> bool:
        # Same answer as python-socketio's, without building a list per container.
        if isinstance(data, (bytes, bytearray)):
            return True
        if isinstance(data, (list, tuple)):
            return any(cls.data_is_binary(item) for item in data)
        if isinstance(data, dict):
            return any(cls.data_is_binary(item) for item in data.values())
        return False

    def encode(self) -> str | list[str | bytes]:
        try:
            encoded: str | list[str | bytes] = super().encode()
        except TypeError as exc:
            raise unsupported_value(self.data, exc) from None
        except (ValueError, RecursionError) as exc:
            raise Unencodable.from_exception("json", exc) from None
        return encoded

    def decode(self, encoded_packet: str) -> int:
        """``<type>[<attachments>-][<nsp>,][<id>][<json>]``, parsed in one pass."""
        text = encoded_packet
        if not isinstance(text, str) or not text or text[0] not in "0123456":
            raise PacketError("expected a Socket.IO text packet")
        kind = self.packet_type = ord(text[0]) - 48
        end, at = len(text), 1
        count = 0
        if kind in (BINARY_EVENT, BINARY_ACK):
            dash = text.find("-", 1, 12)
            if dash < 2 or not is_digits(text[1:dash]):
                raise PacketError("binary packet without an attachment count")
            count, at = int(text[1:dash]), dash + 1
        namespace = "/"
        if at < end and text[at] == "/":
            comma = text.find(",", at)
            stop = end if comma == -1 else comma
            namespace = text[at:stop].partition("?")[0]
            at = stop + 1
        start = at
        while at < end and text[at] in DIGITS:
            at += 1
        if at - start > 16:
            raise PacketError("ack id too long")
        self.namespace = namespace
        self.id = int(text[start:at]) if at > start else None
        try:
            self.data = loads(text, at) if at < end else None
        except PacketError:
            raise
        except (ValueError, RecursionError) as exc:
            raise PacketError(f"malformed JSON: {type(exc).__name__}") from None
        if count and kind not in (BINARY_EVENT, BINARY_ACK):
            raise PacketError("attachments are only allowed on binary packets")
        if count > MAX_ATTACHMENTS:
            raise PacketError("too many attachments")
        check(self)
        return count

    @classmethod
    def reconstruct_binary(cls, data: Any, attachments: list[bytes]) -> Any:
        """The data with each placeholder replaced by its attachment.

        As socket.io-parser: a placeholder is an object whose ``_placeholder`` is ``true``, and
        its ``num`` must be an attachment's index, a non-negative integer (not a boolean) below
        their count; anything else, nesting too deep to walk included, is an invalid packet."""
        try:
            return _reconstruct(data, attachments)
        except RecursionError:
            raise PacketError("attachment placeholder nested too deeply") from None


def _reconstruct(data: Any, attachments: list[bytes]) -> Any:
    # Decoded JSON holds only list, dict, str, int, float, bool and None.
    if type(data) is list:
        return [_reconstruct(item, attachments) for item in data]
    if type(data) is dict:
        if data.get("_placeholder") is True:
            num = data.get("num")
            if type(num) is not int or not 0 <= num < len(attachments):
                raise PacketError(f"illegal attachment placeholder num {repr(num)[:20]}")
            return attachments[num]
        return {key: _reconstruct(value, attachments) for key, value in data.items()}
    return data


MAX_SAFE_INT = 2**53 - 1
_LONG_DIGITS = re.compile(r"\d{16}", re.ASCII)
_DIGIT = re.compile(r"\d", re.ASCII)


def may_hold_unsafe_int(text: str) -> bool:
    """Whether ``text`` has a run of 16 digits, which every integer beyond 2**53 prints as.

    Searching the whole text costs more than encoding it; but any such run covers a position
    15 (mod 16), so only the digits at those positions need a closer look."""
    sample = text[15::16]
    if _DIGIT.search(sample) is None:
        return False
    for hit in _DIGIT.finditer(sample):
        at = 15 + 16 * hit.start()
        if _LONG_DIGITS.search(text, at - 15, at + 16):
            return True
    return False


def reject_unsafe_ints(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise Unencodable(
                "json",
                f"integer {value} is beyond 2**53 and would be rounded",
                "integer beyond 2**53",
            )
    elif isinstance(value, dict):
        for item in value.values():
            reject_unsafe_ints(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            reject_unsafe_ints(item)
