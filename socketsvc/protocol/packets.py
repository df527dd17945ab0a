"""Socket.IO v5 packets: the types, the shape rules every decoded packet must pass, and the
packet classes of the two wire formats.

Stock python-socketio decodes leniently and leaves shape checks to later code, which then fails
with a traceback or silently ignores the packet. Here decoding either yields a packet whose
fields have the types the protocol promises, or raises :class:`PacketError` so the caller can
close that one connection with a clear reason.
"""

from __future__ import annotations

from typing import Any

from socketio import packet as sio_packet

CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK = range(7)
MAX_ACK_ID = 2**53 - 1  # JS clients count ack ids in doubles; larger ids cannot be answered.
MAX_ATTACHMENTS = 1000


class PacketError(ValueError):
    """A client sent something that is not a valid Socket.IO packet."""


DIGITS = frozenset("0123456789")


def is_digits(text: str) -> bool:
    return bool(text) and all(c in DIGITS for c in text)


class Parsed:
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
