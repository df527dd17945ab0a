"""What a handler does on its node: emit and call, rooms, sessions, who a connection is, the
cluster, background work. Each is a typed call through the node's front door
(:class:`socketsvc.sio.door.NodeDoor`), which the node gives every handler instance before it
serves; python-socketio's ``server`` attribute is not a way in.

:class:`NodeCalls` is the part of :class:`~socketsvc.handlers.BaseNamespace` that talks to the
node; the names python-socketio's ``AsyncNamespace`` offers (``enter_room``, ``get_session``,
``session``, ``disconnect``, ``send``, ...) keep their meaning, typed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, overload

from socketsvc.handlers import awaited
from socketsvc.handlers.events import Arguments, Calls, Emits, ServerEvent
from socketsvc.handlers.services import Services
from socketsvc.security.auth import Identity
from socketsvc.sio.cluster import Cluster, SocketRecord
from socketsvc.sio.door import NodeDoor
from socketsvc.sio.handshake import Handshake
from socketsvc.sio.once import Once


class NodeCalls:
    """Calls to the node, for one namespace's handler instance."""

    namespace: str
    services: Services
    door: NodeDoor
    """The node's front door (set by :meth:`bind` before the instance serves)."""

    def bind(self, door: NodeDoor) -> None:
        self.door = door
        awaited.install({f.__code__: f for f in (NodeCalls.emit, NodeCalls.call)})

    # -- sending ----------------------------------------------------------------------------------

    @overload
    async def emit(
        self, event: Emits[Arguments], /, *args: Arguments.args, **kwargs: Arguments.kwargs
    ) -> None: ...

    @overload
    async def emit(
        self,
        event: str,
        data: Any = None,
        to: Any = None,
        room: Any = None,
        skip_sid: Any = None,
        namespace: str | None = None,
        callback: Any = None,
        ignore_queue: bool = False,
        *,
        volatile: bool = False,
        once: Once | None = None,
    ) -> None: ...

    async def emit(  # type: ignore[misc]  # (the first overload's arguments: see ServerEvent)
        self,
        event: str | ServerEvent[Any],
        data: Any = None,
        to: Any = None,
        room: Any = None,
        skip_sid: Any = None,
        namespace: str | None = None,
        callback: Any = None,
        ignore_queue: bool = False,
        *,
        volatile: bool = False,
        once: Once | None = None,
    ) -> None:
        """Emit as ``AsyncNamespace.emit``; ``volatile=True`` marks a best-effort message
        (typing indicators, cursor moves) that is dropped for clients with a backlog instead
        of queueing behind what they have not read yet; ``once`` makes it at most once per
        key (a retried send, sio/once.py: when it was sent already, ``once.earlier`` holds
        the first one's answer). ``event`` is a name or a declared :class:`ServerEvent`,
        whose payload type mypy checks ``data`` against."""
        if type(event) is not str:
            event = event.name  # type: ignore[union-attr]
        await self.door.emit(
            event,
            data,
            namespace=namespace or self.namespace,
            to=to,
            room=room,
            skip_sid=skip_sid,
            callback=callback,
            ignore_queue=ignore_queue,
            volatile=volatile,
            once=once,
        )

    async def send(
        self, data: Any, to: Any = None, room: Any = None, skip_sid: Any = None, **options: Any
    ) -> None:
        """A ``message`` event (python-socketio's ``send``)."""
        await self.emit("message", data, to=to, room=room, skip_sid=skip_sid, **options)

    @overload
    async def call(
        self, event: Calls[Arguments], /, *args: Arguments.args, **kwargs: Arguments.kwargs
    ) -> Any: ...

    @overload
    async def call(
        self, event: str, data: Any = None, *, to: str, timeout: float = 10.0
    ) -> Any: ...

    async def call(  # type: ignore[misc]  # (the first overload's arguments: see ServerEvent)
        self, event: str | ServerEvent[Any], data: Any = None, *, to: str, timeout: float = 10.0
    ) -> Any:
        """Emit to one client and wait for its ack; raises :class:`AckTimeout` when none comes."""
        if type(event) is not str:
            event = event.name  # type: ignore[union-attr]
        return await self.door.call(
            event,
            data,
            namespace=self.namespace,
            to=to,
            timeout=timeout,
        )

    async def disconnect(self, sid: str, namespace: str | None = None) -> None:
        """Drop ``sid`` on purpose (the client sees ``io server disconnect``)."""
        await self.door.disconnect(sid, namespace or self.namespace)

    # -- rooms ------------------------------------------------------------------------------------

    async def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        """Add ``sid`` to ``room`` unchecked (:meth:`join` asks ``can_join`` and the limits)."""
        await self.door.enter_room(sid, room, namespace or self.namespace)

    async def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        await self.door.leave_room(sid, room, namespace or self.namespace)

    async def leave(self, sid: str, room: str) -> None:
        await self.door.leave_room(sid, room, self.namespace)

    async def close_room(self, room: str, namespace: str | None = None) -> None:
        """Take every client out of ``room`` on this node."""
        await self.door.close_room(room, namespace or self.namespace)

    def members(self, room: str) -> list[str]:
        """The sids in ``room`` on this node."""
        return self.door.members(self.namespace, room)

    def rooms_of(self, sid: str) -> list[str]:
        """The rooms ``sid`` has joined, without its private sid room."""
        return [r for r in self.door.rooms_of(sid, self.namespace) if r != sid]

    def rooms(self, sid: str, namespace: str | None = None) -> list[str]:
        """python-socketio's ``rooms``: the private sid room included."""
        return self.door.rooms_of(sid, namespace or self.namespace)

    # -- sessions, identity, recovery -----------------------------------------------------------

    async def get_session(self, sid: str, namespace: str | None = None) -> Any:
        return await self.door.get_session(sid, namespace or self.namespace)

    async def save_session(self, sid: str, session: Any, namespace: str | None = None) -> None:
        await self.door.save_session(sid, session, namespace or self.namespace)

    def session(self, sid: str, namespace: str | None = None) -> Any:
        """``async with self.session(sid) as session:`` (saved on exit)."""
        return self.door.session(sid, namespace or self.namespace)

    def handshake(self, sid: str) -> Handshake:
        """The connect request of ``sid`` (headers, query, auth, client address): available
        from ``on_connect`` on, in ``after_connect``, every event and ``on_disconnect``."""
        return self.door.handshake(sid)

    def identity(self, sid: str) -> Identity | None:
        """The verified token claims of ``sid``'s connection, or None when anonymous; after an
        ``auth:refresh``, the new token's (``.expires`` is its ``exp``)."""
        return self.door.identity(sid)

    def recovered(self, sid: str) -> bool:
        """Whether ``sid``'s connection is a restored one (same sid, rooms and session data,
        and it was sent what it missed) rather than a new one."""
        return self.door.recovered(sid)

    def may_come_back(self, sid: str, reason: str) -> bool:
        """In ``on_disconnect``: whether this client's session is kept for it to come back
        (it dropped without meaning to, and the namespace has recovery)."""
        return self.door.may_come_back(sid, reason)

    # -- background work ------------------------------------------------------------------------

    def start_background_task(
        self, target: Callable[..., Coroutine[Any, Any, Any]], *args: Any, **kwargs: Any
    ) -> asyncio.Task[Any]:
        """Run ``target(*args, **kwargs)`` in a task the node tracks: awaited at shutdown,
        an exception logged (python-socketio's name; its server's version tracks nothing)."""
        return self.door.start(target(*args, **kwargs))

    # -- the cluster: every node, socketsvc's and Node.js's -------------------------------------

    @property
    def cluster(self) -> Cluster:
        return self.services.cluster or self.door.local_cluster()

    async def fetch_sockets(
        self,
        room: str | Sequence[str] | None = None,
        *,
        except_rooms: str | Sequence[str] = (),
        timeout: float = 5.0,
    ) -> list[SocketRecord]:
        """This namespace's sockets in ``room`` (one, several, None: all) and in none of
        ``except_rooms`` on every node, this one's first (Socket.IO's ``fetchSockets()``).
        :class:`~socketsvc.errors.ClusterTimeout` when a node does not answer in time."""
        rooms = [] if room is None else [room] if isinstance(room, str) else list(room)
        skip = [except_rooms] if isinstance(except_rooms, str) else list(except_rooms)
        return await self.cluster.fetch_sockets(self.namespace, rooms, skip, timeout)

    async def server_side_emit(self, event: str, *args: Any) -> None:
        """A server-side event to this namespace on the *other* nodes (``serverSideEmit``)."""
        await self.cluster.server_side_emit(self.namespace, event, list(args))

    async def server_side_call(self, event: str, *args: Any, timeout: float = 5.0) -> list[Any]:
        """:meth:`server_side_emit` that returns every other node's answer, in arrival order
        (``serverSideEmitWithAck``); :class:`~socketsvc.errors.ClusterTimeout` as above."""
        return await self.cluster.server_side_call(self.namespace, event, list(args), timeout)
