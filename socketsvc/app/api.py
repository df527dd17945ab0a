"""``POST /api/v1/emit``: other services publish an event to clients on every node.

Request: ``Authorization: Bearer <api_key>`` and a JSON object
``{"namespace": "/chat", "room": "lobby", "event": "message", "data": ...}`` (``room``
optional: absent or null means everyone in the namespace; ``data`` may be null).

Answers: 202 ``{"status": "accepted"}`` once this node has handed the message to its own
clients' open sessions, and (deploy/README.md "Publishing from other services") appended it to
the recovery stream in a namespace with recovery on Redis, else queued it for the other nodes;
401 for a missing or wrong key; 400 ``{"error": {"code", "message"}}`` naming the field that
is wrong, nothing sent: a body nested too deeply to parse, or ``data`` holding a value some
client or the recovery log cannot carry unchanged (a lone surrogate, NaN or Infinity, an
integer past 2**53, nesting past :data:`MAX_DEPTH` levels); 408 when the body does not
arrive within ``body_timeout``; 404 ``unknown_namespace`` for a namespace this node serves no
handler for (a misspelled one: every node of a cluster runs the same ``[namespaces]``, so
none would deliver it; ``/`` is always served, and a pattern such as ``/board/*`` serves
every ``/board/<name>``); 503 ``shutting_down`` once this node has begun to shut down, whose
clients are being closed (retry on another node). With an empty ``api_key`` the route does
not exist (404).

``POST /api/v1/disconnect`` (same key) closes connections on every node: ``{"subject": "u-1"}``
(every connection whose token has that ``sub``), ``{"sid": "..."}`` (one namespace
connection) or ``{"namespace": "/chat", "room": "lobby"}`` (everyone in the room); a
``namespace`` beside ``subject`` or ``sid`` narrows it to that namespace. The clients get a
DISCONNECT for the namespace (stock clients do not reconnect by themselves). Answers: 202
``{"status": "accepted"}`` once this node's matches are being closed and the message is queued
for the other nodes; 400 naming the bad field; 401, 404, 408 and 503 as for emit.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from socketsvc import errors
from socketsvc.config.checks import NAMESPACE_PATTERN
from socketsvc.engine import answer_and_close
from socketsvc.handlers.base import EVENT_NAME, RESERVED_EVENTS
from socketsvc.protocol.json_format import MAX_SAFE_INT, has_lone_surrogate
from socketsvc.sio.disconnects import Selection
from socketsvc.sio.server import SocketServer

BAD_REQUEST = "bad_request"
UNAUTHORIZED = "unauthorized"
SHUTTING_DOWN = "shutting_down"
UNKNOWN_NAMESPACE = "unknown_namespace"
# Levels of nesting ``data`` may have: well inside what every part carries (msgpack and the
# Redis stream 1024, the JSON encoder about 1000 on Python 3.11).
MAX_DEPTH = 512


def emit_route(
    sio: SocketServer, api_key: str, body_timeout: float
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler of ``POST /api/v1/emit``, bound to this node's server and key."""
    expected = f"Bearer {api_key}".encode()

    async def emit(request: web.Request) -> web.Response:
        raw = await _authorized_body(request, expected, sio, body_timeout)
        if isinstance(raw, web.Response):
            return raw
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return _error(400, BAD_REQUEST, "body: not valid JSON")
        except RecursionError:
            return _error(400, BAD_REQUEST, "body: nested too deeply")
        try:
            namespace, room, event, data = parse(body)
        except ValueError as exc:
            return _error(400, BAD_REQUEST, str(exc))
        if not sio.routes.serves(namespace):
            return _unknown_namespace(namespace)
        if sio.stopping.is_set():  # from here to the clients' sessions nothing waits
            return _stopping()
        try:
            await sio.emit(event, data, namespace=namespace, to=room)
        except errors.SocketsvcError as exc:
            return _error(400, exc.code, exc.message)
        return web.json_response({"status": "accepted"}, status=202)

    return emit


class _Stopping(Exception):
    """Shutdown began while the body was still arriving."""


async def _read(request: web.Request, stopping: asyncio.Event, timeout: float) -> bytes:
    """The body, unless shutdown begins first (aiohttp stops reading connections then, so
    the rest would never come) or it takes longer than ``timeout`` seconds."""
    if stopping.is_set():
        raise _Stopping
    reading = asyncio.ensure_future(request.read())
    stopped = asyncio.ensure_future(stopping.wait())
    try:
        done, _ = await asyncio.wait(
            (reading, stopped), timeout=timeout or None, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        stopped.cancel()
        reading.cancel()
    if reading in done:
        return reading.result()
    if stopped in done:
        raise _Stopping
    raise TimeoutError


def _stopping() -> web.Response:
    response = _error(503, SHUTTING_DOWN, "this node is shutting down; retry on another")
    response.headers["Retry-After"] = "1"
    return response


def parse(body: Any) -> tuple[str, str | None, str, Any]:
    """The emit a request body asks for; ``ValueError`` names the first bad field."""
    if not isinstance(body, dict):
        raise ValueError("body: must be a JSON object")
    unknown = sorted(set(body) - {"namespace", "room", "event", "data"})
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown field")
    namespace = body.get("namespace")
    if not isinstance(namespace, str) or not NAMESPACE_PATTERN.match(namespace) or "*" in namespace:
        raise ValueError("namespace: required, a namespace path such as '/chat'")
    room = body.get("room")
    if room is not None and (not isinstance(room, str) or not 1 <= len(room) <= 256):
        raise ValueError("room: must be a non-empty string (or absent for the whole namespace)")
    event = body.get("event")
    if not isinstance(event, str) or not EVENT_NAME.match(event) or event in RESERVED_EVENTS:
        raise ValueError("event: required, an event name such as 'message'")
    if "data" not in body:
        raise ValueError("data: required (may be null)")
    check_data(body["data"])
    return namespace, room, event, body["data"]


def check_data(data: Any) -> None:
    """``ValueError`` naming the first value of ``data`` (as JSON parsed it) that some client
    or the recovery log cannot carry unchanged, if any: it is refused before anything is sent,
    rather than reaching only the clients of one wire format."""
    stack: list[tuple[str, Any, int]] = [("data", data, 0)]
    while stack:
        path, value, depth = stack.pop()
        problem = _problem(value, depth)
        if problem is not None:
            raise ValueError(f"{path[:200]}: {problem}")
        if isinstance(value, dict):
            items = [
                (f"{path}.{k}" if k.isidentifier() else f"{path}[{k!r}]", v)
                for k, v in value.items()
            ]
            if any(has_lone_surrogate(k) for k in value):
                raise ValueError(
                    f"{path[:200]}: keys must be valid Unicode (one holds a lone surrogate)"
                )
            stack.extend((p, v, depth + 1) for p, v in reversed(items))
        elif isinstance(value, list):
            stack.extend(
                (f"{path}[{i}]", v, depth + 1) for i, v in reversed(list(enumerate(value)))
            )


def _problem(value: Any, depth: int) -> str | None:
    if isinstance(value, str):
        return (
            "must be valid Unicode (it holds a lone surrogate)"
            if has_lone_surrogate(value)
            else None
        )
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return (
            None
            if -MAX_SAFE_INT <= value <= MAX_SAFE_INT
            else "integers past 2**53 would be rounded"
        )
    if isinstance(value, float):
        return None if math.isfinite(value) else "NaN and Infinity have no JSON form"
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    return None


def _unknown_namespace(namespace: str) -> web.Response:
    """No handler serves it here; nodes of one cluster serve the same namespaces (see module
    doc), so none does anywhere: a misspelled namespace, which would reach nobody."""
    text = f"namespace: no namespace {namespace!r} is served"
    return _error(404, UNKNOWN_NAMESPACE, text)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(errors.error_ack(code, message), status=status)


async def _authorized_body(
    request: web.Request, expected: bytes, sio: SocketServer, body_timeout: float
) -> bytes | web.Response:
    """The body of a request with the right bearer key, or the answer that refuses it."""
    given = request.headers.get("Authorization", "").encode()
    if not hmac.compare_digest(given, expected):
        return _error(401, UNAUTHORIZED, "missing or wrong bearer token")
    try:
        return await _read(request, sio.stopping, body_timeout)
    except (_Stopping, TimeoutError) as exc:
        # The body is not all in: answer and close, rather than have aiohttp wait for the
        # rest (up to its lingering time, past shutdown's end).
        response = (
            _stopping()
            if isinstance(exc, _Stopping)
            else _error(408, BAD_REQUEST, "body: not received within body_timeout")
        )
        await answer_and_close(request, response)
        return response


def disconnect_route(
    sio: SocketServer, api_key: str, body_timeout: float
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler of ``POST /api/v1/disconnect``, bound to this node's server and key."""
    expected = f"Bearer {api_key}".encode()

    async def disconnect(request: web.Request) -> web.Response:
        raw = await _authorized_body(request, expected, sio, body_timeout)
        if isinstance(raw, web.Response):
            return raw
        try:
            selection = Selection.of(json.loads(raw))
        except RecursionError:
            return _error(400, BAD_REQUEST, "body: nested too deeply")
        except UnicodeDecodeError:
            return _error(400, BAD_REQUEST, "body: not valid JSON")
        except ValueError as exc:  # json.JSONDecodeError is one
            text = "body: not valid JSON" if isinstance(exc, json.JSONDecodeError) else str(exc)
            return _error(400, BAD_REQUEST, text)
        if selection.namespace is not None and not sio.routes.serves(selection.namespace):
            return _unknown_namespace(selection.namespace)
        if sio.stopping.is_set():
            return _stopping()
        sio.disconnect_clients(selection)
        return web.json_response({"status": "accepted"}, status=202)

    return disconnect
