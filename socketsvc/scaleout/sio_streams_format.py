"""The message types and stream entries of Node's ``@socket.io/redis-streams-adapter`` (see
:mod:`sio_streams`), for the manager that speaks them and for the emitter, which imports no
server module."""

from __future__ import annotations

import base64
import json
from typing import Any

from socketsvc.scaleout import bus

BROADCAST, SOCKETS_JOIN, SOCKETS_LEAVE, DISCONNECT_SOCKETS = 3, 4, 5, 6
FETCH_SOCKETS, FETCH_SOCKETS_RESPONSE, SERVER_SIDE_EMIT, SERVER_SIDE_EMIT_RESPONSE = 7, 8, 9, 10
BROADCAST_CLIENT_COUNT, BROADCAST_ACK = 11, 12
QUIET = frozenset({1, 2, 13})  # heartbeats and closes: nothing to do
MEMBERSHIP = {SOCKETS_JOIN: "join", SOCKETS_LEAVE: "leave", DISCONNECT_SOCKETS: "disconnect"}
KINDS = {"join": SOCKETS_JOIN, "leave": SOCKETS_LEAVE, "disconnect": DISCONNECT_SOCKETS}


def encode_entry(uid: str, namespace: str, kind: int, data: Any) -> dict[str, str]:
    """A stream entry's fields; ``data`` as JSON, or base64 msgpack when JSON cannot hold it
    (binary, NaN). Raises as :func:`~socketsvc.scaleout.bus.pack` does."""
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        text = base64.b64encode(bus.pack(data)).decode()
    return {"uid": uid, "nsp": namespace, "type": str(kind), "data": text}
