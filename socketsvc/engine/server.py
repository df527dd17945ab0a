"""``EngineServer``: python-engineio's ``AsyncServer`` with Engine.IO v4 rules
enforced the way Node's ``engine.io`` 6.x (``socket.io`` 4.8) does.

python-socketio builds it (see sio/_socketio.py) with the application's
:class:`~socketsvc.engine.policy.EnginePolicy` and message handler as constructor arguments.
It knows nothing of Socket.IO. Only the aiohttp async mode is supported.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple

from aiohttp import web

from ._aiohttp import answer_and_close, drop_http_parser, share_mask_source
from ._engineio import EngineIOServer
from .coalescer import WriteCoalescer
from .direct import websocket_response
from .environ import RequestEnviron, first_value
from .framing import MESSAGE, OPEN, payload_size, ws_frame
from .observer import EngineObserver
from .policy import EnginePolicy
from .responses import (
    BAD_HANDSHAKE_METHOD,
    BAD_REQUEST,
    FORBIDDEN,
    UNKNOWN_SID,
    UNKNOWN_TRANSPORT,
    UNSUPPORTED_PROTOCOL_VERSION,
    error,
    payload,
)
from .session import EngineSession
from .timers import TimerList
from .traffic import Traffic

# Handle one MESSAGE's data as far as it goes without waiting; return the rest (None: done),
# which the transport awaits before it handles the session's next packet.
MessageHandler = Callable[[str, str | bytes], Awaitable[None] | None]


class WebSocketSession(NamedTuple):
    """A prepared websocket for ``session``, for ``handle_request`` to run."""

    session: EngineSession
    ws: web.WebSocketResponse
    upgrade: bool


class EngineServer(EngineIOServer):
    """Engine.IO v4 server with Node-compatible handshake, polling, heartbeat
    and upgrade behaviour. Accepts float ``ping_interval``/``ping_timeout``."""

    def __init__(
        self,
        policy: EnginePolicy | None = None,
        on_message: MessageHandler | None = None,
        observer: EngineObserver | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("async_mode", "aiohttp")
        if kwargs["async_mode"] != "aiohttp":
            raise ValueError('EngineServer supports async_mode="aiohttp" only')
        super().__init__(**kwargs)
        self.policy = policy or EnginePolicy()
        self.observer = observer or EngineObserver()
        self.traffic = Traffic()
        # Handle one MESSAGE as far as it goes without waiting; return the rest (None: done),
        # which the transport awaits before it handles the session's next packet: the
        # application's ``on_message`` itself when it gave one (no call in between).
        self.deliver_message: MessageHandler = on_message or self._message_event
        # Every session's heartbeat, in two timer lists (one per delay), replaces the global
        # monitor task.
        self.start_service_task = False
        self.ping_timers = TimerList(self.ping_interval, self._ping_due)
        self.pong_timers = TimerList(self.ping_timeout, self._pong_missed)
        self._open_tail = self._open_settings()  # of every OPEN packet: the settings are fixed
        self.coalescer = WriteCoalescer()

    def _message_event(self, sid: str, data: str | bytes) -> Awaitable[None] | None:
        """Without ``on_message``: the "message" event handler registered the python-engineio
        way, awaited as a whole."""
        handler: Callable[[str, str | bytes], Awaitable[None]] = self.handlers["message"]
        return handler(sid, data)

    def _ping_due(self, sid: str) -> None:
        s = self.sockets.get(sid)
        if s is not None:
            s.ping_due()

    def _pong_missed(self, sid: str) -> None:
        s = self.sockets.get(sid)
        if s is not None:
            s.pong_missed()

    async def call_handler(self, event: str, *args: Any) -> Any:
        """The application's ``connect`` or ``disconnect`` handler, awaited, as python-engineio
        runs it (a handler that raises is logged, and a connect handler that raises refuses
        the connection; a cancelled one counts as returning None), without the closure and
        coroutine-function check its generic event dispatch costs every connection."""
        handler = self.handlers.get(event)
        if handler is None:
            return None
        try:
            result = handler(*args)
            if inspect.isawaitable(result):
                result = await result
        except asyncio.CancelledError:
            return None
        except Exception:
            self.logger.exception("%s handler error", event)
            return False if event == "connect" else None
        return result

    # ------------------------------------------------------------- plumbing
    def attach(self, app: web.Application, engineio_path: str = "engine.io") -> None:
        # Rule: every method reaches the Engine.IO handler so that e.g. a PUT
        # handshake is answered 400 "Bad handshake method", not aiohttp's 405.
        path = "/" + engineio_path.strip("/") + "/"
        app.router.add_route("*", path, self.handle_request)

    async def _prepare_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """The websocket handshake; the connection's HTTP parser is freed, nothing is left
        for it to parse, and its writer shares the mask source it never uses."""
        # max_payload is the largest message allowed (Node's ws refuses only what is over
        # it); aiohttp refuses a message of max_msg_size bytes itself, so one byte more.
        ws = websocket_response(self.max_http_buffer_size + 1)
        await ws.prepare(request)
        drop_http_parser(request)
        share_mask_source(ws)
        return ws

    def _open_packet(self, sid: str, transport: str) -> str:
        # Written out rather than json.dumps'ed (it builds an encoder per call): the sid is
        # URL-safe base64, the upgrades are transport names, the rest is fixed (_open_tail).
        if transport == "websocket":  # nothing to upgrade to (python-engineio's rule)
            upgrades = ""
        else:
            upgrades = ",".join(f'"{name}"' for name in self.upgrades_for(sid, transport))
        return f'{{"sid":"{sid}","upgrades":[{upgrades}],{self._open_tail}'

    def _open_settings(self) -> str:
        # Rule (EIO4 handshake): pingInterval/pingTimeout are integer
        # milliseconds; sub-second float seconds must not truncate to 0.
        interval = round((self.ping_interval + self.ping_interval_grace_period) * 1000)
        timeout = round(self.ping_timeout * 1000)
        return (
            f'"pingInterval":{interval},"pingTimeout":{timeout},'
            f'"maxPayload":{int(self.max_http_buffer_size)}}}'
        )

    def live_session(self, sid: str) -> EngineSession:
        """The open session ``sid``, or KeyError (python-engineio's contract)."""
        s: EngineSession | None = self.sockets.get(sid)
        if s is None or s.closed:
            raise KeyError("Session not found")
        return s

    async def send(self, sid: str, data: Any) -> None:
        self.push(sid, [data])

    def push(self, sid: str, frames: list[Any], volatile: bool = False) -> None:
        """Queue message payloads for one session: no coroutine, no task, no Packet
        object (the per-recipient step of every emit and broadcast). A ``volatile``
        message is dropped instead when the session already has a backlog."""
        s = self.sockets.get(sid)
        if s is None or s.closed:
            return
        if volatile and s.backlogged():
            return
        traffic = self.traffic
        if len(frames) == 1:  # the usual case: one text or msgpack message
            frame = frames[0]
            s.push_message(frame)
            traffic.messages_out += 1
            traffic.bytes_out += len(frame)
            return
        for frame in frames:
            s.push_message(frame)
        traffic.messages_out += len(frames)
        traffic.bytes_out += payload_size(frames)

    def push_many(self, sids: list[str], frames: list[Any], volatile: bool = False) -> None:
        """``push`` to many sessions; each websocket frame is built once for all of them, and
        written at once rather than after the whole fan-out."""
        wire = [ws_frame(MESSAGE, frame) for frame in frames]
        sockets = self.sockets
        reached = 0
        for sid in sids:
            s = sockets.get(sid)
            if s is None or s.closed or (volatile and s.backlogged()):
                continue
            reached += 1
            for frame, ready in zip(frames, wire, strict=True):
                s.enqueue(MESSAGE, frame, ready, now=True)
        traffic = self.traffic
        traffic.messages_out += reached * len(frames)
        traffic.bytes_out += reached * payload_size(frames)

    async def disconnect(self, sid: str | None = None) -> None:
        # The socket removes itself from self.sockets (possibly after its
        # CLOSE packet has been collected by the next poll).
        targets = [self.sockets.get(sid)] if sid is not None else list(self.sockets.values())
        for s in targets:
            if s is not None and not s.closed:
                await s.close(reason=self.reason.SERVER_DISCONNECT)

    # --------------------------------------------------------------- requests
    async def handle_request(self, *args: Any, **kwargs: Any) -> web.StreamResponse:
        # A websocket's whole life runs in this coroutine: it keeps few locals, since every
        # one is memory held per connection (the rest is in _origin_refusal and _respond).
        request: web.Request = args[0]
        environ = RequestEnviron(request, self.policy.client_address)
        r = self._origin_refusal(request, environ)
        if r is None:
            r = await self._route(request, environ)
            if type(r) is WebSocketSession:
                # Run the session here rather than down in _route: the fewer coroutine frames
                # stay suspended for a connection's whole life, the less memory it holds (nor
                # does this frame keep the tuple).
                session, ws, upgrade = r
                del r
                await session.run_websocket(ws, upgrade=upgrade)
                return ws
        return await self._respond(request, environ, r)

    def _origin_refusal(self, request: web.Request, environ: Mapping[str, Any]) -> Any:
        """The answer to a request from an origin that is not allowed, else None."""
        allows_origin = self.policy.allows_origin
        if allows_origin is not None:
            if not allows_origin(request):
                self.observer.handshake_refused("origin")
                return error(FORBIDDEN, 403)
        elif self.cors_allowed_origins != []:
            origin = environ.get("HTTP_ORIGIN")
            if origin:
                allowed = self.allowed_origins(environ)
                if allowed is not None and origin not in allowed:
                    self.log_once(origin + " is not an accepted origin.", "bad-origin")
                    return self.bad_request_response(origin + " is not an accepted origin.")
        return None

    async def _respond(
        self, request: web.Request, environ: Mapping[str, Any], r: Any
    ) -> web.StreamResponse:
        """The HTTP response for what ``_route`` (or the origin check) answered."""
        if isinstance(r, web.StreamResponse):
            return r
        if self.http_compression and len(r["response"]) >= self.compression_threshold:
            encodings = [
                e.split(";")[0].strip() for e in environ.get("HTTP_ACCEPT_ENCODING", "").split(",")
            ]
            for encoding in encodings:
                if encoding in self.compression_methods:
                    r["response"] = self.compress(encoding, r["response"])
                    r["headers"] = [*r["headers"], ("Content-Encoding", encoding)]
                    break
        response: web.StreamResponse = await self.make_response(r, environ)
        if r.get("close"):
            await answer_and_close(request, response)
        return response

    async def _route(self, request: web.Request, environ: Mapping[str, Any]) -> Any:
        method = request.method
        query = request.query  # parsed once per request (aiohttp keeps it for the handshake)
        transport = first_value(query, "transport")
        sid = first_value(query, "sid")
        if method == "OPTIONS":
            return self.ok_response()  # CORS preflight (python-engineio behaviour)
        # Rule (Node verify()): transport must be present and enabled, else 400
        # "Transport unknown" (python-engineio defaulted a missing one to polling).
        if transport is None or transport not in self.transports:
            self.log_once("Invalid transport", "bad-transport")
            return error(UNKNOWN_TRANSPORT)
        # Rule (EIO4 only): EIO must be 4 on every request.
        if [v for v in query.getall("EIO", ()) if v] != ["4"]:
            self.log_once("Unsupported Engine.IO protocol version", "bad-version")
            return error(UNSUPPORTED_PROTOCOL_VERSION)
        jsonp_index = None
        j = first_value(query, "j")
        if j is not None:
            try:
                jsonp_index = int(j)
            except ValueError:
                return error(BAD_REQUEST)
        is_ws = (
            method == "GET"
            and transport == "websocket"
            and request.headers.get("Upgrade", "").lower() == "websocket"
        )
        if sid is None:
            # Rule (Node verify()): the handshake is GET only; anything else
            # (POST, PUT, ...) is 400 "Bad handshake method", not 405.
            if method != "GET":
                return error(BAD_HANDSHAKE_METHOD)
            if transport == "websocket" and not is_ws:
                return error(BAD_REQUEST)
            return await self.handshake(environ, transport, jsonp_index)

        s = self.sockets.get(sid)
        # Rule: unknown or closed sid -> 400 "Session ID unknown" (a session
        # closed by the server lingers only to deliver its CLOSE to one poll).
        if s is None or (s.closed and not (s.lingering and method == "GET" and not is_ws)):
            self.log_once(f"Invalid session {sid}", "bad-sid")
            return error(UNKNOWN_SID)
        if is_ws:
            return await self._handle_ws_upgrade(request, s)
        # Rule (Node TRANSPORT_MISMATCH): once upgraded, HTTP requests with the
        # same sid are 400.
        if transport != "polling" or s.upgraded or not s.connected:
            self.log_once(f"Unexpected HTTP request for session {sid}", "unexpected-http")
            return error(BAD_REQUEST)
        if method == "GET":
            items = await s.handle_poll(request)
            if items is None:
                return error(BAD_REQUEST if sid in self.sockets else UNKNOWN_SID)
            return payload(items, jsonp_index)
        if method == "POST":
            return await s.receive_post(request)
        # Node answers an unsupported method on an existing session with 500;
        # 400 is what the protocol test-suite accepts as well.
        return error(BAD_REQUEST)

    async def _handle_ws_upgrade(self, request: web.Request, s: EngineSession) -> Any:
        ws = await self._prepare_websocket(request)
        if s.upgrading or s.upgraded or s.closing or s.closed or not s.connected:
            # Rule (Node onWebSocket): a second websocket for a session that is
            # upgrading or upgraded is refused (closed right after the handshake).
            self.logger.info("%s: refusing extra websocket", s.sid)
            await ws.close()
            return ws
        return WebSocketSession(s, ws, upgrade=True)

    async def handshake(
        self, environ: Mapping[str, Any], transport: str, jsonp_index: int | None = None
    ) -> Any:
        """A new session: the OPEN packet, then the first poll's payload or the websocket."""
        address = None
        connections = self.policy.connections
        if connections is not None:
            address = self.policy.client_address(environ["aiohttp.request"])
            if not await connections.acquire(address):
                self.observer.handshake_refused("too_many_connections")
                self.log_once(f"too many connections from {address}", "per-ip-limit")
                body = json.dumps({"code": FORBIDDEN, "message": "Too many connections"})
                return {
                    "status": "429 TOO MANY REQUESTS",
                    "headers": [("Content-Type", "application/json")],
                    "response": body.encode(),
                }
        sid = self.policy.sid_prefix + self.generate_id()
        s = EngineSession(self, sid)
        s.address = address
        self.sockets[sid] = s
        open_data = self._open_packet(sid, transport)
        ret = await self.call_handler("connect", sid, environ)
        if ret is not None and ret is not True:
            self.sockets.pop(sid, None)
            s.closed = True
            await s.release_address()
            self.logger.warning("Application rejected connection")
            return self.unauthorized_response(ret or None)
        s.start_heartbeat()
        self.observer.transport_opened(sid, transport)
        if transport == "websocket":
            ws = await self._prepare_websocket(environ["aiohttp.request"])
            s.buffer.insert(0, (OPEN, open_data))
            return WebSocketSession(s, ws, upgrade=False)
        s.connected = True
        headers = None
        if self.cookie:
            attrs = (
                self.cookie
                if isinstance(self.cookie, dict)
                else {"name": self.cookie, "path": "/", "SameSite": "Lax"}
            )
            headers = [("Set-Cookie", self.sid_cookie(sid, attrs))]
        items = [(OPEN, open_data), *s.buffer]
        s.buffer = []
        s.buffered_bytes = 0
        return payload(items, jsonp_index, headers)

    async def shutdown(self) -> None:
        await self.disconnect()
        for s in list(self.sockets.values()):
            s.forget()  # no lingering CLOSE delivery after shutdown
        self.ping_timers.cancel_all()
        self.pong_timers.cancel_all()
        await super().shutdown()
