"""Operations that reach every node of a cluster, and what this node answers to them.

Handlers fetch the sockets of rooms and send server-side events through a :class:`Cluster`
(Socket.IO's ``fetchSockets()`` and ``serverSideEmit()``): on one node (the memory manager)
that is :class:`SingleNode`; with Redis, each ``redis_protocol`` has its own, which asks the
other nodes (socketsvc's, or Node's through the formats of its Redis adapters) and answers
theirs with :class:`LocalNode`.

Targets are Socket.IO's broadcast options: ``rooms`` (none: the whole namespace) less every
socket in one of the ``except_rooms`` (a socket id is a room of its own).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from socketsvc import errors

from .tasks import TaskSet

log = logging.getLogger("socketsvc.cluster")


@dataclass(frozen=True)
class SocketRecord:
    """One socket of the cluster as ``fetch_sockets`` reports it (Node's ``RemoteSocket``
    fields): its id, its rooms (its own id room included, as in Node), its ``data`` (the
    python-socketio session of the namespace, ``socket.data`` in Node) and its handshake
    (``headers``, ``query``, ``auth``, ``address``, ``time``, ``issued``, ``url``,
    ``secure``, ``xdomain``)."""

    id: str
    namespace: str
    rooms: tuple[str, ...] = ()
    data: Any = None
    handshake: Mapping[str, Any] = field(default_factory=dict)


class Cluster(Protocol):
    """Cluster-wide operations of one namespace; every answer of every node is awaited for
    at most ``timeout`` seconds, then :class:`~socketsvc.errors.ClusterTimeout` is raised
    (with what arrived). Nodes that are not reachable at that moment are not asked."""

    async def fetch_sockets(
        self,
        namespace: str,
        rooms: Sequence[str],
        except_rooms: Sequence[str],
        timeout: float,
    ) -> list[SocketRecord]:
        """The sockets of ``rooms`` on every node, this one first."""
        ...

    async def server_side_emit(self, namespace: str, event: str, args: list[Any]) -> None:
        """Send a server-side event to the other nodes' namespace (not to this one)."""

    async def server_side_call(
        self, namespace: str, event: str, args: list[Any], timeout: float
    ) -> list[Any]:
        """Send a server-side event to the other nodes and return each one's answer."""
        ...


class ServerEvents(Protocol):
    """What a namespace handler offers for server-side events (``BaseNamespace`` has it)."""

    async def dispatch_server_event(self, event: str, args: list[Any]) -> Any: ...


class LocalNode:
    """This node's answers to the cluster's requests, from its server's rooms and sockets."""

    def __init__(self, server: Any) -> None:
        """``server``: the node's :class:`~socketsvc.sio.server.SocketServer`."""
        self.server = server
        self.manager = server.manager
        self.tasks: TaskSet = server.tasks

    # -- who ----------------------------------------------------------------------------------

    def sids(self, namespace: str, rooms: Sequence[str], except_rooms: Sequence[str]) -> list[str]:
        """The sids of this node's sockets in ``rooms`` (all when empty) and in none of
        ``except_rooms``, in a stable order."""
        table = self.manager.rooms.get(namespace)
        if not table:
            return []
        chosen: dict[str, None] = {}
        for room in rooms or (None,):
            for sid in table.get(room, ()):
                chosen[sid] = None
        for room in except_rooms:
            for sid in table.get(room, ()):
                chosen.pop(sid, None)
        return list(chosen)

    def skipped(self, namespace: str, except_rooms: Sequence[str]) -> list[str]:
        """The sids an emit with ``except_rooms`` leaves out on this node."""
        table = self.manager.rooms.get(namespace) or {}
        return list({sid: None for room in except_rooms for sid in table.get(room, ())})

    def records(
        self, namespace: str, rooms: Sequence[str], except_rooms: Sequence[str]
    ) -> list[SocketRecord]:
        return [self.record(namespace, sid) for sid in self.sids(namespace, rooms, except_rooms)]

    def record(self, namespace: str, sid: str) -> SocketRecord:
        manager, server = self.manager, self.server
        eio = server.eio.sockets.get(manager.eio_sid_from_sid(sid, namespace))
        data = eio.session.get(namespace) if eio is not None else None
        rooms = tuple(r for r in manager.get_rooms(sid, namespace) if isinstance(r, str))
        return SocketRecord(sid, namespace, rooms, {} if data is None else data, self._hs(sid))

    def _hs(self, sid: str) -> dict[str, Any]:
        """Node's ``socket.handshake`` fields, from socketsvc's :class:`Handshake`."""
        record = self.server.connections.get(sid)
        handshake = record.handshake if record is not None else None
        if handshake is None:
            return {}
        issued = handshake.issued
        return {
            "headers": {k.lower(): v for k, v in handshake.headers.items()},
            "time": time.strftime("%a %b %d %Y %H:%M:%S GMT+0000", time.gmtime(issued)),
            "address": handshake.address,
            "xdomain": "Origin" in handshake.headers,
            "secure": handshake.secure,
            "issued": int(issued * 1000),
            "url": handshake.url,
            "query": dict(handshake.query.items()),
            "auth": dict(handshake.auth),
        }

    # -- what --------------------------------------------------------------------------------

    def deliver(
        self,
        namespace: str,
        rooms: Sequence[str],
        except_rooms: Sequence[str],
        args: list[Any],
        volatile: bool = False,
    ) -> None:
        """An event from another node for this node's clients; what a wire format cannot
        carry was logged once by the fan-out and reached everyone else."""
        skip = self.skipped(namespace, except_rooms)
        with contextlib.suppress(errors.Unencodable):
            self.manager.deliver(namespace, list(rooms) or None, skip, args, volatile)

    def deliver_with_acks(
        self,
        namespace: str,
        rooms: Sequence[str],
        except_rooms: Sequence[str],
        args: list[Any],
        on_ack: Callable[..., None],
    ) -> int:
        """An event that asks each recipient for an ack; how many were sent it."""
        skip = self.skipped(namespace, except_rooms)
        try:
            reached: int = self.manager.deliver_with_acks(
                namespace, list(rooms) or None, skip, args, on_ack
            )
        except errors.Unencodable:
            return 0  # counted nowhere: the fan-out logged it and sent the rest
        return reached

    async def join(
        self, namespace: str, rooms: Sequence[str], except_rooms: Sequence[str], new: list[str]
    ) -> None:
        for sid in self.sids(namespace, rooms, except_rooms):
            for room in new:
                await self.server.enter_room(sid, room, namespace=namespace)

    async def leave(
        self, namespace: str, rooms: Sequence[str], except_rooms: Sequence[str], old: list[str]
    ) -> None:
        for sid in self.sids(namespace, rooms, except_rooms):
            for room in old:
                await self.server.leave_room(sid, room, namespace=namespace)

    async def disconnect(
        self, namespace: str, rooms: Sequence[str], except_rooms: Sequence[str], close: bool
    ) -> None:
        """Disconnect the sockets from the namespace (``close``: their whole connection)."""
        for sid in self.sids(namespace, rooms, except_rooms):
            eio_sid = self.manager.eio_sid_from_sid(sid, namespace)
            if close and eio_sid is not None:
                await self.server.close_transport(eio_sid)
            else:  # this node's only: never passed on as a bus disconnect naming the sid
                await self.server.disconnect(sid, namespace=namespace, ignore_queue=True)

    async def server_event(self, namespace: str, event: str, args: list[Any]) -> Any:
        """Run the namespace handler's server-side event hook in a task of its own; its
        answer, or an error ack (``unknown_event`` for a namespace without a handler)."""
        handler: ServerEvents | None = self.server.namespace_handlers.get(namespace)
        if handler is None or not hasattr(handler, "dispatch_server_event"):
            return errors.error_ack(
                errors.UNKNOWN_EVENT, f"no handler for server-side events in {namespace}"
            )
        return await self.tasks.start(handler.dispatch_server_event(event, args))


class SingleNode:
    """The :class:`Cluster` of a node alone (the memory manager): only its own sockets, and
    no other node to send server-side events to (Node's ``serverSideEmit`` reaches the
    *other* servers only)."""

    def __init__(self, manager: Any) -> None:
        self.manager = manager

    async def fetch_sockets(
        self, namespace: str, rooms: Sequence[str], except_rooms: Sequence[str], timeout: float
    ) -> list[SocketRecord]:
        return LocalNode(self.manager.server).records(namespace, rooms, except_rooms)

    async def server_side_emit(self, namespace: str, event: str, args: list[Any]) -> None:
        return None

    async def server_side_call(
        self, namespace: str, event: str, args: list[Any], timeout: float
    ) -> list[Any]:
        return []
