"""Turning one connection's Engine.IO messages into Socket.IO packets.

Each connection has its own wire format, told from its first packet: text is socket.io-parser
(JSON), binary is socket.io-msgpack-parser. A JSON binary packet is complete only once its
attachments (the binary messages that follow it) have arrived.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from socketsvc import protocol
from socketsvc.protocol import PacketClass, PacketError

_NAMES = {wire: name for name, wire in protocol.FORMATS.items()}


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
    ) -> None:
        """``is_connected(eio_sid, namespace)``: only a connected client's binary packets are
        held while their attachments arrive."""
        self.accepted = accepted
        self.max_attachment_bytes = max_attachment_bytes
        self.is_connected = is_connected
        self.default: PacketClass = protocol.FORMATS[accepted[0] if len(accepted) == 1 else "json"]
        self._formats: dict[str, PacketClass] = {}
        self._partial: dict[str, Any] = {}  # eio_sid -> binary packet awaiting attachments
        self._attachment_bytes: dict[str, int] = {}

    def format_of(self, eio_sid: str) -> PacketClass:
        """The packet class (wire format) of one connection."""
        return self._formats.get(eio_sid, self.default)

    def wire_format(self, eio_sid: str) -> str | None:
        """``json`` or ``msgpack`` once the connection's first packet told, else None."""
        wire = self._formats.get(eio_sid)
        return None if wire is None else _NAMES[wire]

    def read(self, eio_sid: str, data: str | bytes) -> Any:
        """The next complete packet, or None while binary attachments are still to come.

        Raises :class:`PacketError` for anything that is not a valid next packet, and
        :class:`UnacceptedFormat` for a first packet in a refused format. Decoding is a function
        of the client's bytes alone, so whatever else it raises (a ``RecursionError`` from
        nesting, say) is the packet's fault too: a :class:`PacketError` naming the exception."""
        if not data:
            raise PacketError("empty packet")
        try:
            pending = self._partial.get(eio_sid)
            if pending is not None:
                return self._attach(eio_sid, pending, data)
            wire = self._formats.get(eio_sid)
            if wire is None:
                return self._first(eio_sid, data)
            pkt = wire.parse(data)
            kind = pkt.packet_type
            if kind in (protocol.BINARY_EVENT, protocol.BINARY_ACK) and pkt.attachment_count:
                if not self.is_connected(eio_sid, pkt.namespace):
                    raise PacketError(f"not connected to namespace {pkt.namespace}")
                self._partial[eio_sid] = pkt
                self._attachment_bytes[eio_sid] = 0
                return None
            return pkt
        except (PacketError, UnacceptedFormat):
            raise
        except Exception as exc:
            raise PacketError(f"undecodable ({type(exc).__name__})") from None

    def _attach(self, eio_sid: str, pending: Any, data: str | bytes) -> Any:
        if not isinstance(data, bytes | bytearray):
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
