"""Socket.IO v5 packets and the two wire formats (socket.io-parser JSON, socket.io-msgpack-parser).

Pure: no I/O, no server state.

The names below are imported on first use (PEP 562), not with the package: ``values`` (what a
handler may send beyond JSON's own types) is shared with the Redis bus format, which the
publisher-only ``socketsvc-emitter`` distribution imports without python-socketio or orjson.
Once looked up, a name is an ordinary module attribute.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "FORMATS": "frames",
    "PacketClass": "frames",
    "encode_frames": "frames",
    "JsonPacket": "json_format",
    "MsgPackPacket": "msgpack_format",
    **dict.fromkeys(
        (
            "ACK",
            "BINARY_ACK",
            "BINARY_EVENT",
            "CONNECT",
            "CONNECT_ERROR",
            "DISCONNECT",
            "EVENT",
            "PacketError",
        ),
        "packets",
    ),
}

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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value
