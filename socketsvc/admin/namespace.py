"""The server side of the Socket.IO Admin UI (``@socket.io/admin-ui``) as a socketsvc namespace.

The protocol is the one the UI speaks to the Node ``instrument()``: after a connect with
``{username, password}`` (or a ``sessionId`` from an earlier ``session`` event) the admin gets
``config`` (the features it may use) and ``all_sockets``, then ``server_stats`` every
:data:`STATS_SECONDS` and, as they happen, ``socket_connected``, ``socket_updated``,
``socket_disconnected``, ``room_joined``, ``room_left``, ``event_received`` and
``event_sent``. It may send ``emit``, ``join``, ``leave`` and ``_disconnect`` unless the UI is
read-only.

Scope: one node, or one machine of ``--workers N``. The admin sees this node's clients (every
worker's, through the :class:`~socketsvc.admin.relay.AdminRelay`) and acts on them (an
``emit`` reaches every node, as any emit does). The UI lists servers by ``serverId`` (each
worker is one); connect it to each node to see each. Nothing of python-socketio's
``instrument()`` is used: it patches python-socketio's and python-engineio's internals, which
socketsvc replaced; the :class:`~socketsvc.admin.feed.AdminFeed` observer sees the same
happenings instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from socketio.exceptions import ConnectionRefusedError

from socketsvc import errors
from socketsvc.config.derived import node_name
from socketsvc.errors import SocketsvcError
from socketsvc.handlers.base import EVENT_NAME, RESERVED_EVENTS, BaseNamespace
from socketsvc.handlers.services import Services

from .auth import AdminAuth
from .feed import ADMIN_FEED, MAX_SENT_REPORTS
from .relay import ADMIN_RELAY

log = logging.getLogger("socketsvc.admin")

STATS_SECONDS = 2.0
ACTIONS = ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"]
HIDDEN_HEADERS = frozenset({"authorization", "cookie"})  # never shown, even to admins


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


class AdminNamespace(BaseNamespace):
    """``/admin`` (``admin_namespace``): authentication, the feed's events, the actions."""

    def __init__(self, namespace: str, services: Services) -> None:
        """The feed is the node's (``ADMIN_FEED``, which the app factory provides): what the
        observer records is what this namespace shows."""
        super().__init__(namespace, services)
        settings = services.settings
        self.feed = feed = services[ADMIN_FEED]
        self.auth = AdminAuth(settings.admin_username, settings.admin_password_hash)
        self.read_only = services.settings.admin_read_only
        self.node = node_name(services.settings)
        self.started = time.monotonic()
        self.admins: set[str] = set()
        self._sessions: dict[str, str] = {}  # admin sid -> session id to hand out
        self._flush: asyncio.Task[None] | None = None
        self._stats: asyncio.TimerHandle | None = None
        feed.on_entries(self._wake)
        self.relay = services.get(ADMIN_RELAY)  # the machine's other workers, or None
        if self.relay is not None:
            self.relay.attach(self)

    # -- the admin's own connection ------------------------------------------------------------

    async def on_connect(self, sid: str, environ: Mapping[str, Any], auth: dict[str, Any]) -> Any:
        accepted, session = await self.auth.check(auth)
        if not accepted:
            request = environ.get("aiohttp.request")
            client = getattr(request, "remote", None)
            log.warning("Admin UI login refused", extra={"sid": sid, "client": client})
            raise ConnectionRefusedError("invalid credentials", {"code": errors.UNAUTHORIZED})
        if session is not None:
            self._sessions[sid] = session
        return None

    async def after_connect(self, sid: str) -> None:
        session = self._sessions.pop(sid, None)
        if session is not None:
            await self._to(sid, "session", session)
        features = ([] if self.read_only else ACTIONS) + ["AGGREGATED_EVENTS", "ALL_EVENTS"]
        await self._to(sid, "config", {"supportedFeatures": features})
        sockets = self._all_sockets()
        if self.relay is not None:
            sockets += await self.relay.sockets()
            self.relay.announce()
        await self._to(sid, "all_sockets", sockets)
        self.admins.add(sid)
        self._watch()

    async def on_disconnect(self, sid: str, reason: str) -> None:
        self._sessions.pop(sid, None)
        self.admins.discard(sid)
        if not self._watching():
            self._unwatch()

    def _watching(self) -> bool:
        """An admin watches, here or on another worker."""
        return bool(self.admins) or (self.relay is not None and self.relay.watched())

    def _watch(self) -> None:
        if not self.feed.watching:
            self.feed.watching = True
            self._schedule_stats(0.0)

    def _unwatch(self) -> None:
        self.feed.watching = False
        self.feed.queue.clear()
        self.feed.take_counts(self.door.inspect.traffic)
        if self._stats is not None:
            self._stats.cancel()
            self._stats = None

    async def _to(self, sid: str, event: str, data: Any) -> None:
        await self.emit(event, data, to=sid, ignore_queue=True)

    async def _all(self, event: str, data: Any) -> None:
        if self.admins:
            await self.show(event, data)
        if self.relay is not None:
            self.relay.forward(event, data)

    # -- what the relay calls (another worker of the machine) ----------------------------------

    def all_sockets(self) -> list[dict[str, Any]]:
        return self._all_sockets()

    def watched_elsewhere(self) -> None:
        self._watch()

    async def show(self, event: str, data: Any) -> None:
        await self.emit(event, data, ignore_queue=True)

    async def act(self, action: str, args: list[Any]) -> None:
        actions = {"join": self._join, "leave": self._leave, "disconnect": self._disconnect_targets}
        if action in actions and len(args) == 3:
            with contextlib.suppress(SocketsvcError):  # refused where it was asked for
                await actions[action](*args)

    # -- actions -------------------------------------------------------------------------------

    def resolve(
        self, event: str, args: Sequence[Any]
    ) -> tuple[Callable[..., Awaitable[Any]], Sequence[Any]]:
        """``_disconnect`` is not a name handler methods can have; everything else is."""
        return super().resolve("disconnect_sockets" if event == "_disconnect" else event, args)

    def _writable(self) -> None:
        if self.read_only:
            raise SocketsvcError(errors.FORBIDDEN, "the Admin UI is read-only")

    def _targets(self, namespace: Any, room_filter: Any) -> list[str]:
        """This node's sids in ``namespace`` (and in room ``room_filter`` when given)."""
        if not isinstance(namespace, str) or namespace == self.namespace:
            raise SocketsvcError(errors.INVALID_PAYLOAD, "'namespace' must be a client namespace")
        room = room_filter if isinstance(room_filter, str) and room_filter else None
        return [sid for sid, _ in self.door.inspect.sids(namespace, room)]

    async def on_emit(
        self, sid: str, namespace: Any, room_filter: Any, event: Any, *data: Any
    ) -> None:
        self._writable()
        self._targets(namespace, None)
        if not isinstance(event, str) or not EVENT_NAME.match(event) or event in RESERVED_EVENTS:
            raise SocketsvcError(errors.INVALID_PAYLOAD, "'event' is not an event name")
        to = room_filter if isinstance(room_filter, str) and room_filter else None
        payload = data[0] if len(data) == 1 else (data or None)
        await self.emit(event, payload, to=to, namespace=namespace)

    async def on_join(self, sid: str, namespace: Any, room: Any, room_filter: Any = None) -> None:
        self._writable()
        await self._join(namespace, room, room_filter)
        if self.relay is not None:
            self.relay.act("join", [namespace, room, room_filter])

    async def _join(self, namespace: Any, room: Any, room_filter: Any) -> None:
        _room_name(room)
        for target in self._targets(namespace, room_filter):
            await self.enter_room(target, room, namespace=namespace)

    async def on_leave(self, sid: str, namespace: Any, room: Any, room_filter: Any = None) -> None:
        self._writable()
        await self._leave(namespace, room, room_filter)
        if self.relay is not None:
            self.relay.act("leave", [namespace, room, room_filter])

    async def _leave(self, namespace: Any, room: Any, room_filter: Any) -> None:
        _room_name(room)
        for target in self._targets(namespace, room_filter):
            if room != target:
                await self.leave_room(target, room, namespace=namespace)

    async def on_disconnect_sockets(
        self, sid: str, namespace: Any, close: Any = False, room_filter: Any = None
    ) -> None:
        self._writable()
        await self._disconnect_targets(namespace, close, room_filter)
        if self.relay is not None:
            self.relay.act("disconnect", [namespace, close, room_filter])

    async def _disconnect_targets(self, namespace: Any, close: Any, room_filter: Any) -> None:
        for target in self._targets(namespace, room_filter):
            if close is True:
                await self.door.inspect.close_transport(target, namespace)
            else:
                await self.disconnect(target, namespace=namespace)

    # -- sending what the feed recorded ---------------------------------------------------------

    def _flushing(self) -> bool:
        # done() too: an eager task may finish before its start() returns
        return self._flush is not None and not self._flush.done()

    def _wake(self) -> None:
        if not self._flushing():
            # Not from inside the hook that woke us: the server is mid-operation there.
            asyncio.get_running_loop().call_soon(self._start_flush)

    def _start_flush(self) -> None:
        if not self._flushing() and self.feed.queue:
            self._flush = self.door.start(self._send_entries())

    async def _send_entries(self) -> None:
        try:
            while self.feed.queue and self._watching():
                event, args = self.feed.queue.popleft()
                for data in self._render(event, args):
                    await self._all(event, data)
        except Exception:
            log.exception("sending Admin UI events failed")

    def _render(self, event: str, args: tuple[Any, ...]) -> list[Any]:
        """The Admin UI arguments of one recorded entry (none when it is moot by now)."""
        if event == "socket_connected":
            namespace, sid, eio_sid, t = args
            serialized = self._serialize(namespace, sid, eio_sid)
            return [] if serialized is None else [(serialized, iso(t))]
        if event == "socket_updated":
            return [
                {"id": sid, "nsp": ns, "transport": "websocket"}
                for ns, sid in self._sockets_of(args[0])
            ]
        if event == "event_sent":
            namespace, room, skip_sid, data, t = args
            skip = set(skip_sid) if isinstance(skip_sid, (list, tuple, set)) else {skip_sid}
            sids = self._recipients(namespace, room, skip)
            return [(namespace, sid, data, iso(t)) for sid in sids[:MAX_SENT_REPORTS]]
        *rest, t = args
        return [(*rest, iso(t))]

    def _recipients(self, namespace: str, room: Any, skip: set[Any]) -> list[str]:
        rooms = room if isinstance(room, (list, tuple)) else [room]
        found: dict[str, None] = {}
        for name in rooms:
            for sid, _ in self.door.inspect.sids(namespace, name):
                if sid not in skip:
                    found[sid] = None
        return list(found)

    def _sockets_of(self, eio_sid: str) -> list[tuple[str, str]]:
        return [
            (namespace, sid)
            for namespace, sid in self.door.inspect.namespaces_of(eio_sid)
            if namespace != self.namespace
        ]

    # -- snapshots ------------------------------------------------------------------------------

    def _all_sockets(self) -> list[dict[str, Any]]:
        out = []
        for namespace in self.door.inspect.namespaces():
            if namespace == self.namespace:
                continue
            for sid, eio_sid in self.door.inspect.sids(namespace):
                serialized = self._serialize(namespace, sid, eio_sid)
                if serialized is not None:
                    out.append(serialized)
        return out

    def _serialize(self, namespace: str, sid: str, eio_sid: str) -> dict[str, Any] | None:
        """One client as the UI shows it, or None when it is gone."""
        found = self.door.inspect.connection(namespace, sid, eio_sid)
        if found is None:
            return None
        request = found.request
        connected = self.feed.connected_at.get((namespace, sid), 0.0)
        headers = {
            key.lower(): value
            for key, value in request.headers.items()
            if key.lower() not in HIDDEN_HEADERS
        }
        query = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(request.query_string).items()}
        return {
            "id": sid,
            "clientId": eio_sid,
            "transport": "websocket" if found.websocket else "polling",
            "nsp": namespace,
            "data": {},
            "handshake": {
                "address": found.address,
                "headers": headers,
                "query": query,
                "secure": request.secure,
                "url": request.path_qs,
                "issued": int(connected * 1000),
                "time": iso(connected) if connected else "",
            },
            "rooms": found.rooms,
        }

    def _schedule_stats(self, delay: float) -> None:
        self._stats = asyncio.get_running_loop().call_later(delay, self._stats_due)

    def _stats_due(self) -> None:
        self._stats = None
        if not self._watching():
            self._unwatch()
            return
        if self.admins and self.relay is not None:
            self.relay.announce()  # renewed while admins watch here
        self.door.start(self._all("server_stats", self._server_stats()))
        self._schedule_stats(STATS_SECONDS)

    def _server_stats(self) -> dict[str, Any]:
        inspect = self.door.inspect
        clients, polling = inspect.transports()
        return {
            "serverId": self.node,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "uptime": time.monotonic() - self.started,
            "clientsCount": clients,
            "pollingClientsCount": polling,
            "aggregatedEvents": self.feed.take_counts(inspect.traffic),
            "namespaces": [
                {"name": ns, "socketsCount": inspect.count(ns)} for ns in inspect.namespaces()
            ],
        }


def _room_name(room: Any) -> None:
    if not isinstance(room, str) or not 1 <= len(room) <= 256:
        raise SocketsvcError(errors.INVALID_PAYLOAD, "'room' must be a string of 1-256 chars")
