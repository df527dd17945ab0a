"""One Socket.IO packet as the Engine.IO message payloads of a wire format, built without a
packet object in the common cases (every emit and ack goes through here)."""

from __future__ import annotations

from typing import Any

import msgpack

from socketsvc.errors import Unencodable, UnsupportedValue

from .json_format import JsonPacket, dumps
from .msgpack_format import MsgPackPacket
from .packets import BINARY_ACK, BINARY_EVENT
from .values import fields_of, plain, unsupported_value

PacketClass = type[JsonPacket] | type[MsgPackPacket]
FORMATS: dict[str, PacketClass] = {"json": JsonPacket, "msgpack": MsgPackPacket}


def encode_frames(
    cls: PacketClass, kind: int, namespace: str, data: Any, id: int | None = None
) -> list[str | bytes]:
    """The Engine.IO message payloads that carry one Socket.IO packet in ``cls``'s format.

    The common cases are built directly, without a packet object; JSON packets that carry
    bytes take python-socketio's attachment path. Dataclass instances go as their fields.
    Whatever the data, the result is either frames that can be sent as they are (valid UTF-8
    text included) or :class:`Unencodable` (data one format cannot carry unchanged, nesting too
    deep to walk included), or :class:`UnsupportedValue` for a type no format carries.
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
        except TypeError as exc:
            _PACKER.reset()
            raise unsupported_value(data, exc) from None
        except (OverflowError, ValueError) as exc:
            _PACKER.reset()
            raise Unencodable.from_exception("msgpack", exc) from None
    if data is None:
        body = ""
    else:
        try:
            try:
                body = dumps(data)
            except TypeError:  # bytes inside (attachments), or a type JSON has not
                try:
                    encoded = cls(kind, data=data, namespace=namespace, id=id).encode()
                except UnsupportedValue:  # perhaps bytes inside a dataclass: the slow way
                    encoded = cls(kind, data=plain(data), namespace=namespace, id=id).encode()
                return encoded if isinstance(encoded, list) else [encoded]
        except (ValueError, RecursionError) as exc:
            raise Unencodable.from_exception("json", exc) from None
    prefix = _DIGITS[kind] if namespace == "/" else f"{kind}{namespace},"
    return [prefix + body if id is None else f"{prefix}{id}{body}"]


_DIGITS = "0123456"  # a packet type's digit: cheaper than str(kind)


_PACKER = msgpack.Packer(autoreset=True, default=fields_of)
