"""The HTTP answers of the Engine.IO server, built as python-engineio's response dicts
(``status``, ``headers``, ``response``): Node's error bodies, polling payloads, a POST's "ok".
"""

from __future__ import annotations

import json
from typing import Any

from .framing import Item, encode_text

# Node engine.io error codes/messages (BaseServer.errors / errorMessages).
UNKNOWN_TRANSPORT = 0
UNKNOWN_SID = 1
BAD_HANDSHAKE_METHOD = 2
BAD_REQUEST = 3
FORBIDDEN = 4
UNSUPPORTED_PROTOCOL_VERSION = 5
ERROR_MESSAGES = {
    UNKNOWN_TRANSPORT: "Transport unknown",
    UNKNOWN_SID: "Session ID unknown",
    BAD_HANDSHAKE_METHOD: "Bad handshake method",
    BAD_REQUEST: "Bad request",
    FORBIDDEN: "Forbidden",
    UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}


def error(code: int, status: int = 400) -> dict[str, Any]:
    # Rule (Node abortRequest): JSON body {"code", "message"}, 400 (403 for FORBIDDEN).
    body = json.dumps({"code": code, "message": ERROR_MESSAGES[code]})
    return {
        "status": f"{status} ERROR",
        "headers": [("Content-Type", "application/json")],
        "response": body.encode(),
    }


def payload(
    items: list[Item], jsonp_index: int | None, headers: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    # Rule (EIO4 polling): packets joined with \x1e, binary as "b"+base64.
    text = "\x1e".join(encode_text(item) for item in items)
    if jsonp_index is not None:
        text = "___eio[" + str(jsonp_index) + ']("' + text.replace('"', '\\"') + '");'
    return {
        "status": "200 OK",
        "headers": (headers or [])
        + [("Content-Type", "text/plain; charset=UTF-8"), ("Cache-Control", "no-store")],
        "response": text.encode(),
    }


def ok_post() -> dict[str, Any]:
    # Rule (EIO4 polling): a successful POST is answered with "ok".
    return {"status": "200 OK", "headers": [("Content-Type", "text/html")], "response": b"ok"}


def refusal(status: str) -> dict[str, Any]:
    """A bodiless answer after which the connection is closed (``close``: the server writes
    it and drops the connection, leaving the rest of the request unread)."""
    return {"status": status, "headers": [], "response": b"", "close": True}
