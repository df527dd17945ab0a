"""What the node can tell about its connections, for tools that show them (the Admin UI):
typed, read from the node's own tables, never from python-socketio's or python-engineio's
objects by the caller. Reached as ``door.inspect`` (:mod:`socketsvc.sio.door`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from socketsvc.engine.traffic import Traffic

if TYPE_CHECKING:
    from .server import SocketServer


@dataclass(frozen=True)
class Connection:
    """One namespace connection as it is now."""

    namespace: str
    sid: str
    eio_sid: str
    websocket: bool  # else long-polling
    request: web.Request  # the Engine.IO handshake request
    address: str  # the client's, as the trusted proxies tell it
    rooms: list[str]  # its private sid room included


class NodeInspection:
    """This node's connections, namespaces and traffic (this node only)."""

    def __init__(self, server: SocketServer) -> None:
        self._server = server

    @property
    def traffic(self) -> Traffic:
        """The engine's running message and byte totals."""
        traffic: Traffic = self._server.eio.traffic
        return traffic

    def namespaces(self) -> list[str]:
        """Every namespace served here or with connections now, sorted."""
        server = self._server
        return sorted(set(server.namespace_handlers) | set(server.manager.rooms))

    def count(self, namespace: str) -> int:
        """How many connections ``namespace`` has here."""
        return len(self._server.manager.rooms.get(namespace, {}).get(None, ()))

    def sids(self, namespace: str, room: str | None = None) -> list[tuple[str, str]]:
        """(sid, eio_sid) of the connections in ``namespace`` (in ``room`` when given)."""
        manager = self._server.manager
        if namespace not in manager.rooms:
            return []
        return list(manager.get_participants(namespace, room))

    def namespaces_of(self, eio_sid: str) -> list[tuple[str, str]]:
        """(namespace, sid) of each namespace one transport has joined."""
        manager = self._server.manager
        found = []
        for namespace in list(manager.rooms):
            sid = manager.sid_from_eio_sid(eio_sid, namespace)
            if sid is not None:
                found.append((namespace, sid))
        return found

    def connection(self, namespace: str, sid: str, eio_sid: str) -> Connection | None:
        """The connection now, or None when it is gone."""
        server = self._server
        session = server.eio.sockets.get(eio_sid)
        environ = server.environ.get(eio_sid)
        if session is None or environ is None or not server.manager.is_connected(sid, namespace):
            return None
        request: web.Request = environ["aiohttp.request"]
        return Connection(
            namespace,
            sid,
            eio_sid,
            bool(session.upgraded),
            request,
            server.security.proxies.client_address(request),
            list(server.manager.get_rooms(sid, namespace)),
        )

    def transports(self) -> tuple[int, int]:
        """How many Engine.IO sessions are open here, and how many of them long-poll."""
        sessions = [s for s in self._server.eio.sockets.values() if not s.closed]
        return len(sessions), sum(1 for s in sessions if not s.upgraded)

    async def close_transport(self, sid: str, namespace: str) -> bool:
        """Close the whole transport of ``sid`` (every namespace on it); False when gone."""
        eio_sid = self._server.manager.eio_sid_from_sid(sid, namespace)
        if eio_sid is None:
            return False
        await self._server.close_transport(eio_sid)
        return True
