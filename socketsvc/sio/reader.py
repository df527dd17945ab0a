"""Turning one connection's Engine.IO messages into Socket.IO packets.

Each connection has its own wire format, told from its first packet: text is socket.io-parser
(JSON), binary is socket.io-msgpack-parser. A JSON binary packet is complete only once its
attachments (the binary messages that follow it) have arrived.

Events, the packets that make up nearly all traffic, are handed to ``on_event`` as they
complete, without a packet object: the common JSON shape is read with one regular expression
and one JSON decode.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from socketsvc import protocol
from socketsvc.protocol import (
    BINARY_EVENT,
    EVENT,
    JsonPacket,
    MsgPackPacket,
    PacketClass,
    PacketError,
    encode_frames,
)
from socketsvc.protocol.json_format import loads
from socketsvc.protocol.msgpack_format import unpack
from socketsvc.protocol.packets import MAX_ACK_ID

_NAMES = {wire: name for name, wire in protocol.FORMATS.items()}

# on_event(eio_sid, namespace, ack id, data, problem): a complete, well-formed EVENT; ``data``
# is a non-empty list starting with the event name; ``problem`` says why the data cannot be
# taken as sent (the sender is answered invalid_payload), else None.
OnEvent = Callable[[str, str, "int | None", list[Any], "str | None"], None]

# The usual JSON event: ``2[/nsp,][id][...]``. Anything else (a query in the namespace, an id
# too long, binary events) takes the general decoder, which says exactly what is wrong.
_JSON_EVENT = re.compile(r"2(?:(/[^,?]*),)?(\d{1,16})?\[").match


def default_format(accepted: tuple[str, ...]) -> PacketClass:
    """The packet class a connection uses before its first packet told: a pinned format, or
    JSON (python-socketio's own default) when both are accepted."""
    return protocol.FORMATS[accepted[0] if len(accepted) == 1 else "json"]


class UnacceptedFormat(Exception):
    """The first packet is in a wire format this server does not accept (``serializer``)."""

    def __init__(self, packet: Any, wire_format: str) -> None:
        super().__init__(wire_format)
        self.packet = packet
        self.wire_format = wire_format


class PacketReader:
    """Per-connection wire formats and unfinished binary packets of one server."""

    def __init__(
        self,
        accepted: tuple[str, ...],
        max_attachment_bytes: int,
        is_connected: Callable[[str, str], bool],
        on_event: OnEvent,
    ) -> None:
        """``is_connected(eio_sid, namespace)``: only a connected client's binary packets are
        held while their attachments arrive."""
        self.accepted = accepted
        self.max_attachment_bytes = max_attachment_bytes
        self.is_connected = is_connected
        self.on_event = on_event
        self.default: PacketClass = default_format(accepted)
        self._formats: dict[str, PacketClass] = {}
        self._partial: dict[str, Any] = {}  # eio_sid -> binary packet awaiting attachments
        self._attachment_bytes: dict[str, int] = {}

    def format_of(self, eio_sid: str) -> PacketClass:
        """The packet class (wire format) of one connection."""
        return self._formats.get(eio_sid, self.default)

    def encode(
        self, eio_sid: str, kind: int, namespace: str, data: Any, id: int | None = None
    ) -> list[str | bytes]:
        """One packet for one connection, in its wire format (see ``encode_frames``)."""
        return encode_frames(self._formats.get(eio_sid, self.default), kind, namespace, data, id)

    def wire_format(self, eio_sid: str) -> str | None:
        """``json`` or ``msgpack`` once the connection's first packet told, else None."""
        wire = self._formats.get(eio_sid)
        return None if wire is None else _NAMES[wire]

    def read(self, eio_sid: str, data: str | bytes) -> Any:
        """The next complete packet other than an event (events go to ``on_event``), or None.

        Raises :class:`PacketError` for anything that is not a valid next packet, and
        :class:`UnacceptedFormat` for a first packet in a refused format. Decoding is a function
        of the client's bytes alone, so whatever else it raises (a ``RecursionError`` from
        nesting, say) is the packet's fault too: a :class:`PacketError` naming the exception."""
        if not data:
            raise PacketError("empty packet")
        usual = False  # the usual event, read here without a packet object
        problem: str | None = None
        try:
            wire = self._formats.get(eio_sid)
            if isinstance(data, str):
                head = _JSON_EVENT(data)
                if head is not None and wire is JsonPacket and eio_sid not in self._partial:
                    namespace, digits = head.groups()
                    id = None if digits is None else int(digits)
                    try:
                        args = loads(data, head.end() - 1)
                    except (ValueError, RecursionError):
                        pass  # the general decoder below says what is wrong
                    else:
                        usual = bool(args) and type(args[0]) is str
                        usual = usual and (id is None or id <= MAX_ACK_ID)
                # anything unusual: the general decoder reads it, and says what is wrong
                pkt = None if usual else self._decode(eio_sid, data)
            elif wire is MsgPackPacket:
                packet, problem = unpack(data)
                if packet.get("type") == EVENT:
                    namespace, id, args = packet.get("nsp"), packet.get("id"), packet.get("data")
                    usual = type(namespace) is str and namespace[:1] == "/"
                    usual = usual and type(args) is list and bool(args) and type(args[0]) is str
                    usual = usual and (id is None or (type(id) is int and 0 <= id <= MAX_ACK_ID))
                pkt = None if usual else MsgPackPacket.of(packet, problem)
            else:
                pkt = self._decode(eio_sid, data)
        except (PacketError, UnacceptedFormat):
            raise
        except Exception as exc:
            raise PacketError(f"undecodable ({type(exc).__name__})") from None
        if usual:
            self.on_event(eio_sid, namespace or "/", id, args, problem)
            return None
        if pkt is not None and pkt.packet_type in (EVENT, BINARY_EVENT):
            self.on_event(eio_sid, pkt.namespace, pkt.id, pkt.data, pkt.problem)
            return None
        return pkt

    def _decode(self, eio_sid: str, data: str | bytes) -> Any:
        pending = self._partial.get(eio_sid)
        if pending is not None:
            return self._attach(eio_sid, pending, data)
        wire = self._formats.get(eio_sid)
        if wire is None:
            return self._first(eio_sid, data)
        pkt = wire.parse(data)
        kind = pkt.packet_type
        if kind in (BINARY_EVENT, protocol.BINARY_ACK) and pkt.attachment_count:
            if not self.is_connected(eio_sid, pkt.namespace):
                raise PacketError(f"not connected to namespace {pkt.namespace}")
            self._partial[eio_sid] = pkt
            self._attachment_bytes[eio_sid] = 0
            return None
        return pkt

    def _attach(self, eio_sid: str, pending: Any, data: str | bytes) -> Any:
        if not isinstance(data, (bytes, bytearray)):
            raise PacketError("expected a binary attachment")
        size = self._attachment_bytes[eio_sid] + len(data)
        if size > self.max_attachment_bytes:
            raise PacketError("attachments together exceed max_payload")
        self._attachment_bytes[eio_sid] = size
        try:
            complete = pending.add_attachment(data)
        except PacketError:
            raise
        except ValueError as exc:  # python-socketio: more attachments than announced
            raise PacketError(f"bad attachment: {exc}") from None
        if not complete:
            return None
        self.drop_partial(eio_sid)
        return pending

    def _first(self, eio_sid: str, data: str | bytes) -> Any:
        fmt = "json" if isinstance(data, str) else "msgpack"
        wire = protocol.FORMATS[fmt]
        pkt = wire.parse(data)
        if pkt.packet_type != protocol.CONNECT:
            raise PacketError("the first packet must be a CONNECT")
        self._formats[eio_sid] = wire
        if fmt not in self.accepted:
            raise UnacceptedFormat(pkt, fmt)
        return pkt

    def drop_partial(self, eio_sid: str) -> None:
        self._partial.pop(eio_sid, None)
        self._attachment_bytes.pop(eio_sid, None)

    def forget(self, eio_sid: str) -> None:
        """The connection closed."""
        self._formats.pop(eio_sid, None)
        self.drop_partial(eio_sid)

    def state_size(self) -> int:
        """Entries held for live connections (tests check it returns to zero)."""
        return len(self._formats) + len(self._partial) + len(self._attachment_bytes)
