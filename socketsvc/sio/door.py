"""The front door of a node for its handlers: everything a handler may ask of the node, typed.

``BaseNamespace`` (handlers/) and the Admin UI's namespace (admin/) reach the node only through
this object, never through python-socketio's ``server`` attribute (untyped, and the whole of
python-socketio's surface): what they may do is what is here, and mypy checks every call. One
door per node, shared by its handler instances; each call names its namespace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import socketio

from socketsvc import errors
from socketsvc.config import Settings
from socketsvc.security.auth import Identity

from .cluster import Cluster, SingleNode
from .handshake import Handshake
from .inspection import NodeInspection
from .once import Once
from .recovery import RECOVERABLE

if TYPE_CHECKING:
    from .server import SocketServer


class NodeDoor:
    """What handlers may do on their node: emit and call, rooms, sessions, who a connection
    is, and background work the node waits for at shutdown."""

    def __init__(self, server: SocketServer) -> None:
        self._server = server
        self.settings: Settings = server.settings
        self.inspect = NodeInspection(server)  # for tools that show connections

    # -- sending ----------------------------------------------------------------------------------

    async def emit(
        self,
        event: str,
        data: Any,
        *,
        namespace: str,
        to: Any = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        ignore_queue: bool = False,
        volatile: bool = False,
        once: Once | None = None,
    ) -> None:
        """``AsyncServer.emit``; ``volatile``: dropped for a client with a backlog; ``once``:
        at most once per key (sio/once.py)."""
        if volatile or once is not None:
            room = to if to is not None else room
            manager = self._server.manager
            await manager.emit(event, data, namespace, room, skip_sid, volatile=volatile, once=once)
            return
        await self._server.emit(
            event,
            data,
            to=to,
            room=room,
            skip_sid=skip_sid,
            namespace=namespace,
            callback=callback,
            ignore_queue=ignore_queue,
        )

    async def call(self, event: str, data: Any, *, namespace: str, to: str, timeout: float) -> Any:
        """Emit to one client and wait for its ack; :class:`~socketsvc.errors.AckTimeout`."""
        try:
            return await self._server.call(event, data, to=to, namespace=namespace, timeout=timeout)
        except socketio.exceptions.TimeoutError:
            raise errors.AckTimeout(event, timeout) from None

    async def disconnect(self, sid: str, namespace: str) -> None:
        """Drop ``sid`` from ``namespace`` on purpose (its session is not kept)."""
        await self._server.disconnect(sid, namespace=namespace)

    # -- rooms ------------------------------------------------------------------------------------

    async def enter_room(self, sid: str, room: str, namespace: str) -> None:
        await self._server.enter_room(sid, room, namespace=namespace)

    async def leave_room(self, sid: str, room: str, namespace: str) -> None:
        await self._server.leave_room(sid, room, namespace=namespace)

    async def close_room(self, room: str, namespace: str) -> None:
        await self._server.close_room(room, namespace=namespace)

    def is_sid_room(self, namespace: str, room: str) -> bool:
        """Whether ``room`` is some connection's private room (its sid)."""
        return bool(self._server.manager.is_sid_room(namespace, room))

    def members(self, namespace: str, room: str) -> list[str]:
        """The sids in ``room`` on this node."""
        return [sid for sid, _ in self._server.manager.get_participants(namespace, room)]

    def rooms_of(self, sid: str, namespace: str) -> list[str]:
        """The rooms ``sid`` has joined, its private sid room included."""
        return list(self._server.rooms(sid, namespace=namespace))

    def is_connected(self, sid: str, namespace: str) -> bool:
        return bool(self._server.manager.is_connected(sid, namespace))

    # -- sessions and identity ------------------------------------------------------------------

    async def get_session(self, sid: str, namespace: str) -> Any:
        return await self._server.get_session(sid, namespace=namespace)

    async def save_session(self, sid: str, session: Any, namespace: str) -> None:
        await self._server.save_session(sid, session, namespace=namespace)

    def session(self, sid: str, namespace: str) -> Any:
        """``async with door.session(sid, namespace) as session:`` (saved on exit)."""
        return self._server.session(sid, namespace=namespace)

    def handshake(self, sid: str) -> Handshake:
        record = self._server.connections.get(sid)
        if record is None or record.handshake is None:
            raise KeyError(sid)
        return record.handshake

    def identity(self, sid: str) -> Identity | None:
        return self._server.connections.identity(sid)

    def recovered(self, sid: str) -> bool:
        record = self._server.connections.get(sid)
        return record is not None and record.recovered

    def session_pid(self, sid: str) -> str | None:
        """The private id of ``sid``'s recoverable session (None without recovery)."""
        return self._server.session_pid(sid)

    def may_come_back(self, sid: str, reason: str) -> bool:
        """Whether ``sid``'s session is kept for it to come back after ``reason``."""
        return self._server.session_pid(sid) is not None and reason in RECOVERABLE

    def recovery_window(self, namespace: str) -> float:
        """Seconds ``namespace`` keeps a dropped client's session (0: no recovery)."""
        return self._server.recovery.windows(namespace)

    # -- the node -------------------------------------------------------------------------------

    def local_cluster(self) -> Cluster:
        """This node alone, as a :class:`Cluster` (without Redis)."""
        return SingleNode(self._server.manager)

    def start(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``work`` in a task the node tracks (awaited at shutdown, errors logged)."""
        return self._server.tasks.start(work)
