"""Socket.IO v5 packets and the two wire formats (socket.io-parser JSON, socket.io-msgpack-parser).

Pure: no I/O, no server state.
"""

from .frames import FORMATS, PacketClass, encode_frames
from .json_format import JsonPacket
from .msgpack_format import MsgPackPacket
from .packets import (
    ACK,
    BINARY_ACK,
    BINARY_EVENT,
    CONNECT,
    CONNECT_ERROR,
    DISCONNECT,
    EVENT,
    PacketError,
)

__all__ = [
    "ACK",
    "BINARY_ACK",
    "BINARY_EVENT",
    "CONNECT",
    "CONNECT_ERROR",
    "DISCONNECT",
    "EVENT",
    "FORMATS",
    "JsonPacket",
    "MsgPackPacket",
    "PacketClass",
    "PacketError",
    "encode_frames",
]
