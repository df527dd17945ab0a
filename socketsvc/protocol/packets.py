"""Socket.IO packet classes for the two wire formats, strict on input and exact on output.

Stock python-socketio decodes leniently and leaves shape checks to later code, which then fails
with a traceback or silently ignores the packet. Here decoding either yields a packet whose
fields have the types the protocol promises, or raises :class:`PacketError` so the caller can
close that one connection with a clear reason.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from json.scanner import c_make_scanner  # type: ignore[attr-defined]
from typing import Any

import msgpack
from socketio import packet as sio_packet

from socketsvc import errors
from socketsvc.errors import SocketsvcError

CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK = range(7)
MAX_ACK_ID = 2**53 - 1  # JS clients count ack ids in doubles; larger ids cannot be answered.
MAX_ATTACHMENTS = 1000


class PacketError(ValueError):
    """A client sent something that is not a valid Socket.IO packet."""


_DIGITS = frozenset("0123456789")


def _is_digits(text: str) -> bool:
    return bool(text) and all(c in _DIGITS for c in text)


def _reject_constant(text: str) -> Any:
    raise PacketError(f"{text} is not valid JSON")


# The C encoder and scanner of the json module, built once: json.dumps/loads with options
# construct new ones on every call, which costs more than encoding a small packet.
# Integer literals are bounded by Python's int_max_str_digits (4300 digits).
_DEFAULTS = json.JSONEncoder()
_c_encode = c_make_encoder(
    None, _DEFAULTS.default, encode_basestring, None, ":", ",", False, False, False
)
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_c_scan = c_make_scanner(_DECODER)


def dumps(value: Any) -> str:
    """Compact JSON as socket.io-parser writes it; NaN/Infinity raise ValueError."""
    return "".join(_c_encode(value, 0))


def loads(text: str, start: int = 0) -> Any:
    """Strict JSON: one value from ``start`` on, nothing after it; NaN/Infinity are refused."""
    try:
        value, end = _c_scan(text, start)
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
        if isinstance(text, bytes | bytearray):
            text = text.decode()
        return loads(text)


class _Parsed:
    """``parse`` builds a decoded packet without python-socketio's constructor, which
    inspects the (still empty) data for binary parts before decoding even starts."""

    @classmethod
    def parse(cls, encoded: str | bytes) -> Any:
        pkt: Any = cls.__new__(cls)
        pkt.attachments = []
        pkt.attachment_count = pkt.decode(encoded)
        return pkt


def check(pkt: sio_packet.Packet) -> None:
    """Enforce the per-type shape rules of Socket.IO v5 on a decoded client packet."""
    kind, data, pid, namespace = pkt.packet_type, pkt.data, pkt.id, pkt.namespace
    if namespace is None:
        namespace = pkt.namespace = "/"
    if type(namespace) is not str or namespace[:1] != "/":
        raise PacketError("namespace must be a string starting with '/'")
    if pid is not None and (type(pid) is not int or not 0 <= pid <= MAX_ACK_ID):
        raise PacketError("ack id must be a non-negative integer")
    if type(kind) is not int or not 0 <= kind <= 6:
        raise PacketError("unknown packet type")
    if kind in (EVENT, BINARY_EVENT):  # the common case first
        if type(data) is not list or not data or type(data[0]) is not str:
            raise PacketError("EVENT payload must be an array starting with the event name")
    elif kind == CONNECT_ERROR:
        raise PacketError("clients may not send CONNECT_ERROR")
    elif kind == CONNECT:
        if data is not None and type(data) is not dict:
            raise PacketError("CONNECT payload must be an object")
    elif kind in (ACK, BINARY_ACK) and (type(data) is not list or pid is None):
        raise PacketError("ACK needs an id and an array payload")


class JsonPacket(_Parsed, sio_packet.Packet):  # type: ignore[misc]
    """The default socket.io-parser format: text packets plus binary attachments."""

    json = _StrictJson
    problem: str | None = None

    @classmethod
    def data_is_binary(cls, data: Any) -> bool:
        # Same answer as python-socketio's, without building a list per container.
        if isinstance(data, bytes | bytearray):
            return True
        if isinstance(data, list | tuple):
            return any(cls.data_is_binary(item) for item in data)
        if isinstance(data, dict):
            return any(cls.data_is_binary(item) for item in data.values())
        return False

    def encode(self) -> str | list[str | bytes]:
        try:
            encoded: str | list[str | bytes] = super().encode()
        except (ValueError, TypeError, RecursionError) as exc:
            raise Unencodable("json", _reason(exc)) from None
        text = encoded[0] if isinstance(encoded, list) else encoded
        if _may_hold_unsafe_int(text):  # type: ignore[arg-type]
            _reject_unsafe_ints(self.data)
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
            if dash < 2 or not _is_digits(text[1:dash]):
                raise PacketError("binary packet without an attachment count")
            count, at = int(text[1:dash]), dash + 1
        namespace = "/"
        if at < end and text[at] == "/":
            comma = text.find(",", at)
            stop = end if comma == -1 else comma
            namespace = text[at:stop].partition("?")[0]
            at = stop + 1
        start = at
        while at < end and text[at] in _DIGITS:
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
        try:
            return super().reconstruct_binary(data, attachments)
        except (IndexError, KeyError, TypeError) as exc:
            raise PacketError(f"bad attachment placeholder: {type(exc).__name__}") from None


# A JS number holds integers exactly only up to 2**53 - 1; JSON.parse rounds larger ones.
MAX_SAFE_INT = 2**53 - 1
_LONG_DIGITS = re.compile(r"\d{16}", re.ASCII)
_DIGIT = re.compile(r"\d", re.ASCII)


def _may_hold_unsafe_int(text: str) -> bool:
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


def _reject_unsafe_ints(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise Unencodable("json", f"integer {value} is beyond 2**53 and would be rounded")
    elif isinstance(value, dict):
        for item in value.values():
            _reject_unsafe_ints(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_unsafe_ints(item)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if "Out of range float" in text:
        return "NaN and Infinity have no JSON form"
    if "keys must be" in text:
        return "map keys must be strings"
    return text.split("\n")[0][:120]


class Unencodable(SocketsvcError):
    """Data that cannot cross to clients of one wire format without changing."""

    def __init__(self, wire_format: str, reason: str) -> None:
        super().__init__(
            errors.UNENCODABLE, f"cannot send to {wire_format} clients unchanged: {reason}"
        )


class _Undefined:
    """What the JS msgpack encoder sends for ``undefined``; stripped before handlers see data."""

    __slots__ = ()


UNDEFINED = _Undefined()


def _strip_undefined(value: Any) -> Any:
    # JS semantics: an undefined object member is absent; an undefined array item is null.
    if isinstance(value, dict):
        return {k: _strip_undefined(v) for k, v in value.items() if v is not UNDEFINED}
    if isinstance(value, list):
        return [None if v is UNDEFINED else _strip_undefined(v) for v in value]
    return value


def _js_date(payload: bytes) -> str:
    """notepack's Date (fixext 8, type 0: ms as two 32-bit halves) as JSON.stringify writes it."""
    millis = int.from_bytes(payload[:4], "big", signed=True) * 2**32 + int.from_bytes(
        payload[4:], "big"
    )
    moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


class MsgPackPacket(_Parsed, sio_packet.Packet):  # type: ignore[misc]
    """The socket.io-msgpack-parser format: one msgpack map per packet, binary inline."""

    uses_binary_events = False
    problem: str | None = None

    def encode(self) -> bytes:
        # The JS decoder rejects DISCONNECT (and CONNECT) packets that carry ``data: nil``.
        packet: dict[str, Any] = {"type": self.packet_type, "nsp": self.namespace or "/"}
        if self.data is not None:
            packet["data"] = self.data
        if self.id is not None:
            packet["id"] = self.id
        try:
            return msgpack.packb(packet)  # type: ignore[no-any-return]
        except (OverflowError, TypeError, ValueError) as exc:
            raise Unencodable("msgpack", _reason(exc)) from None

    def decode(self, encoded_packet: bytes) -> int:
        if not isinstance(encoded_packet, bytes | bytearray | memoryview):
            raise PacketError("expected a binary msgpack packet")
        needs_walk = False

        def ext_hook(code: int, payload: bytes) -> Any:
            # notepack (the JS side) uses ext type 0 for undefined (1 byte), Date (8 bytes)
            # and, in Node only, ArrayBuffer (any other size); other types are not JS values.
            nonlocal needs_walk
            if code != 0:
                raise _Unsupported(f"msgpack extension type {code} is not supported")
            if len(payload) == 1:
                needs_walk = True
                return UNDEFINED
            if len(payload) == 8:
                return _js_date(payload)
            return bytes(payload)

        try:
            try:
                decoded = msgpack.unpackb(encoded_packet, ext_hook=ext_hook, timestamp=0)
            except (_Unsupported, ValueError) as exc:
                # Keep the packet (and its ack id) so the sender can be told what was wrong.
                problem = str(exc) if isinstance(exc, _Unsupported) else _reason(exc)
                if isinstance(exc, ValueError) and "map key" not in str(exc):
                    raise
                decoded = msgpack.unpackb(
                    encoded_packet, ext_hook=lambda c, p: None, strict_map_key=False
                )
                if "map key" in problem:
                    problem = "map keys must be strings"
                self.problem = problem
        except PacketError:
            raise
        except Exception as exc:  # msgpack raises a zoo of types on garbage input
            raise PacketError(f"malformed msgpack: {type(exc).__name__}") from None
        if not isinstance(decoded, dict):
            raise PacketError("msgpack packet must be a map")
        if needs_walk:
            decoded = _strip_undefined(decoded)
        self.packet_type = decoded.get("type")
        self.namespace = decoded.get("nsp")
        self.data = decoded.get("data")
        self.id = decoded.get("id")
        if self.namespace is None:
            raise PacketError("namespace must be a string starting with '/'")
        if self.packet_type in (BINARY_EVENT, BINARY_ACK):
            raise PacketError("binary packet types are not used with msgpack")
        check(self)
        return 0


class _Unsupported(Exception):
    pass


PacketClass = type[JsonPacket] | type[MsgPackPacket]
PACKET_CLASSES: dict[str, PacketClass] = {"json": JsonPacket, "msgpack": MsgPackPacket}


def encode_frames(
    cls: PacketClass, kind: int, namespace: str, data: Any, id: int | None = None
) -> list[str | bytes]:
    """The Engine.IO message payloads that carry one Socket.IO packet in ``cls``'s format.

    The common cases are built directly, without a packet object; JSON packets that carry
    bytes take python-socketio's attachment path.
    """
    if kind in (BINARY_EVENT, BINARY_ACK):
        kind -= 3  # binary types are re-derived from the data itself
    if cls is MsgPackPacket:
        packet: dict[str, Any] = {"type": kind, "nsp": namespace}
        if data is not None:
            packet["data"] = data
        if id is not None:
            packet["id"] = id
        try:
            return [_PACKER.pack(packet)]
        except (OverflowError, TypeError, ValueError) as exc:
            _PACKER.reset()
            raise Unencodable("msgpack", _reason(exc)) from None
    if data is None:
        body = ""
    else:
        try:
            body = dumps(data)
        except TypeError:  # bytes inside: attachments
            encoded = cls(kind, data=data, namespace=namespace, id=id).encode()
            return encoded if isinstance(encoded, list) else [encoded]
        except (ValueError, RecursionError) as exc:
            raise Unencodable("json", _reason(exc)) from None
        if _may_hold_unsafe_int(body):
            _reject_unsafe_ints(data)
    prefix = str(kind) if namespace == "/" else f"{kind}{namespace},"
    return [prefix + body if id is None else f"{prefix}{id}{body}"]


_PACKER = msgpack.Packer(autoreset=True)
