"""Cluster-wide requests between the workers of one machine (``--workers N`` without Redis):
handlers' ``fetch_sockets`` and server-side events reach every other worker through the
primary's hub, as they reach every node of a Redis cluster (:mod:`.bus_requests`).

The hub tells the asking worker how many workers it asked; each answers, also for a namespace
it does not serve (no sockets; ``unknown_event`` for a server-side event).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from socketsvc import errors
from socketsvc.errors import Unencodable, UnsupportedValue
from socketsvc.scaleout.sio_requests import node_socket, socket_record, str_list
from socketsvc.sio.cluster import LocalNode, SocketRecord
from socketsvc.sio.fanout import FanoutManager

from .client import HubClient

FETCH = "fetch"
SERVER_EVENT = "server_event"


class LocalRequests:
    """The :class:`~socketsvc.sio.cluster.Cluster` of the workers of one machine."""

    def __init__(self, hub: HubClient, manager: FanoutManager) -> None:
        self.hub = hub
        self.manager = manager
        self.local: LocalNode | None = None

    async def start(self) -> None:
        self.local = LocalNode(self.manager.server)
        self.hub.answerers[FETCH] = self._fetch
        self.hub.answerers[SERVER_EVENT] = self._server_event

    async def stop(self) -> None:
        return None

    def problem(self) -> str | None:
        return None  # the manager reports the hub

    # -- this worker asks -----------------------------------------------------------------------

    async def fetch_sockets(
        self, namespace: str, rooms: Sequence[str], except_rooms: Sequence[str], timeout: float
    ) -> list[SocketRecord]:
        assert self.local is not None
        mine = self.local.records(namespace, rooms, except_rooms)
        body = {"kind": FETCH, "nsp": namespace, "rooms": list(rooms), "except": list(except_rooms)}
        try:
            theirs = await self.hub.ask(body, "fetch_sockets", timeout)
        except errors.ClusterTimeout as exc:
            exc.partial = mine + _records(namespace, exc.partial)
            raise
        return mine + _records(namespace, theirs)

    async def server_side_emit(self, namespace: str, event: str, args: list[Any]) -> None:
        body = {"kind": SERVER_EVENT, "nsp": namespace, "args": [event, *args]}
        try:
            self.hub.tell(body)
        except (Unencodable, UnsupportedValue) as exc:
            raise Unencodable("other nodes", str(exc)) from None

    async def server_side_call(
        self, namespace: str, event: str, args: list[Any], timeout: float
    ) -> list[Any]:
        body = {"kind": SERVER_EVENT, "nsp": namespace, "args": [event, *args]}
        try:
            return await self.hub.ask(body, "server_side_call", timeout)
        except (Unencodable, UnsupportedValue) as exc:
            raise Unencodable("other nodes", str(exc)) from None

    # -- the others ask -------------------------------------------------------------------------

    async def _fetch(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        assert self.local is not None
        namespace = body.get("nsp")
        if not isinstance(namespace, str):
            return []
        rooms, skip = str_list(body.get("rooms")), str_list(body.get("except"))
        return [node_socket(r) for r in self.local.records(namespace, rooms, skip)]

    async def _server_event(self, body: dict[str, Any]) -> Any:
        assert self.local is not None
        args, namespace = body.get("args"), body.get("nsp")
        if not isinstance(args, list) or not args or not isinstance(args[0], str):
            return errors.error_ack(errors.INVALID_PAYLOAD, "no event name")
        if not isinstance(namespace, str):
            return errors.error_ack(errors.INVALID_PAYLOAD, "no namespace")
        return await self.local.server_event(namespace, args[0], args[1:])


def _records(namespace: str, answers: list[Any]) -> list[SocketRecord]:
    found: list[SocketRecord] = []
    for sockets in answers:
        for value in sockets if isinstance(sockets, list) else ():
            record = socket_record(namespace, value)
            if record is not None:
                found.append(record)
    return found
