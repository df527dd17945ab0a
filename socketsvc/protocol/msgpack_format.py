"""The socket.io-msgpack-parser wire format: one msgpack map per packet, binary inline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgpack
from socketio import packet as sio_packet

from socketsvc.errors import Unencodable

from .packets import BINARY_ACK, BINARY_EVENT, PacketError, Parsed, check
from .values import fields_of, unsupported_value


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


def _strip_timestamps(value: Any) -> tuple[Any, bool]:
    """``value`` with msgpack Timestamps (extension type -1) replaced by None, and whether
    there were any. The unpacker decodes that type itself, without calling ``ext_hook``."""
    if isinstance(value, msgpack.Timestamp):
        return None, True
    found = False
    if isinstance(value, dict):
        items = {}
        for key, item in value.items():
            items[key], hit = _strip_timestamps(item)
            found = found or hit
        return (items, True) if found else (value, False)
    if isinstance(value, list):
        parts = []
        for item in value:
            part, hit = _strip_timestamps(item)
            parts.append(part)
            found = found or hit
        return (parts, True) if found else (value, False)
    return value, False


def _js_date(payload: bytes) -> str:
    """notepack's Date (fixext 8, type 0: ms as two 32-bit halves) as JSON.stringify writes it."""
    millis = int.from_bytes(payload[:4], "big", signed=True) * 2**32 + int.from_bytes(
        payload[4:], "big"
    )
    moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


class MsgPackPacket(Parsed, sio_packet.Packet):  # type: ignore[misc]
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
            return msgpack.packb(packet, default=fields_of)  # type: ignore[no-any-return]
        except TypeError as exc:
            raise unsupported_value(self.data, exc) from None
        except (OverflowError, ValueError) as exc:
            raise Unencodable.from_exception("msgpack", exc) from None

    def decode(self, encoded_packet: bytes) -> int:
        self.fill(*unpack(encoded_packet))
        return 0

    @classmethod
    def of(cls, decoded: dict[Any, Any], problem: str | None) -> MsgPackPacket:
        """The packet of a map :func:`unpack` returned."""
        pkt = cls.__new__(cls)
        pkt.attachments = []
        pkt.attachment_count = 0
        pkt.fill(decoded, problem)
        return pkt

    def fill(self, decoded: dict[Any, Any], problem: str | None) -> None:
        """Take the fields of a decoded packet map; raises :class:`PacketError` unless they
        have the shape the protocol promises."""
        self.problem = problem
        self.packet_type = decoded.get("type")
        self.namespace = decoded.get("nsp")
        self.data = decoded.get("data")
        self.id = decoded.get("id")
        if self.namespace is None:
            raise PacketError("namespace must be a string starting with '/'")
        if self.packet_type in (BINARY_EVENT, BINARY_ACK):
            raise PacketError("binary packet types are not used with msgpack")
        check(self)


def unpack(encoded: bytes) -> tuple[dict[Any, Any], str | None]:
    """One packet's map, JS values made Python ones, and what is wrong with its data (None:
    nothing). Raises :class:`PacketError` when it is not a msgpack map at all."""
    if not isinstance(encoded, (bytes, bytearray, memoryview)):
        raise PacketError("expected a binary msgpack packet")
    problem = None
    try:
        undefined = _EXTENSIONS.undefined
        try:
            decoded = msgpack.unpackb(encoded, ext_hook=_EXTENSIONS, timestamp=0)
        except (_Unsupported, ValueError) as exc:
            if isinstance(exc, ValueError) and "map key" not in str(exc):
                raise
            # Keep the packet (and its ack id) so the sender can be told what was wrong.
            unsupported = isinstance(exc, _Unsupported)
            problem = str(exc) if unsupported else "map keys must be strings"
            decoded = msgpack.unpackb(encoded, ext_hook=_ignore, strict_map_key=False)
        # recursive walks: as deep as msgpack nests (1024), past Python's limit
        if _EXTENSIONS.undefined != undefined:
            decoded = _strip_undefined(decoded)
        if 0xFF in encoded:  # the type byte of a Timestamp (and of -1, 255, ...)
            decoded, timestamps = _strip_timestamps(decoded)
            if timestamps:
                problem = "msgpack extension type -1 is not supported"
    except PacketError:
        raise
    except RecursionError:
        raise PacketError("undefined or a Timestamp nested too deeply") from None
    except Exception as exc:  # msgpack raises a zoo of types on garbage input
        raise PacketError(f"malformed msgpack: {type(exc).__name__}") from None
    if type(decoded) is not dict:
        raise PacketError("msgpack packet must be a map")
    return decoded, problem


class _Extensions:
    """The decoder's ``ext_hook``. notepack (the JS side) uses ext type 0 for undefined (1
    byte), Date (8 bytes) and, in Node only, ArrayBuffer (any other size); other types are
    not JS values. It counts the undefineds it makes: only then must the result be walked
    (a count compared before and after, so nothing needs resetting)."""

    undefined = 0

    def __call__(self, code: int, payload: bytes) -> Any:
        if code != 0:
            raise _Unsupported(f"msgpack extension type {code} is not supported")
        if len(payload) == 1:
            self.undefined += 1
            return UNDEFINED
        if len(payload) == 8:
            return _js_date(payload)
        return bytes(payload)


_EXTENSIONS = _Extensions()


def _ignore(code: int, payload: bytes) -> None:
    return None


class _Unsupported(Exception):
    pass
