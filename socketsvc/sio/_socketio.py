"""python-socketio: the only module of socketsvc that touches its private names.

socketsvc's server, manager and Redis bus are python-socketio subclasses. python-socketio calls
some private methods on its subclasses and keeps some helpers private; this module maps each of
them to a public name, in one place:

- :class:`SocketIOServer`: the hooks python-socketio calls on a server (building its Engine.IO
  server, a transport closing, a namespace disconnecting, running a lifecycle handler, sending
  a packet) lead to socketsvc's methods; its own connect, disconnect and ack flows are reachable
  as ``base_*``;
- :class:`ManagerBase`: ack ids; whether a known sid is connected, without a lookup while
  nothing is pending (``pending_connect``/``pending_disconnect``); python-socketio's
  per-client cleanup called on a view of the client's own rooms, so that it stays O(own
  rooms) (see :meth:`ManagerBase.basic_disconnect`); and its ``pre_connect`` with a given
  sid, for a recovered session (a copy of five lines, pinned by the source hash of the
  original);
- :class:`PubSubManager`: ``_publish``/``_listen``, the two hooks python-socketio's pub/sub
  managers are built on, the listener loop that drives them, and its handling of another
  node's emit (``_handle_emit``), which socketsvc wraps: python-socketio drops ``volatile``
  there, and logs a traceback for any exception a delivery raises.

tests/sio/test_socketio_fence.py pins the signature of everything used here and checks that the
per-client state python-socketio keeps is the state this module's cleanup covers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import socketio
from bidict import ValueDuplicationError
from socketio.async_pubsub_manager import AsyncPubSubManager

from socketsvc.dependencies import require

VERSION = require("python-socketio", (5, 18), (5, 19))


class SocketIOServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's ``AsyncServer`` with the hooks it calls mapped to named methods."""

    engine_class: Any  # the Engine.IO server class python-socketio builds (set by subclasses)

    # -- python-socketio calls these ---------------------------------------------------------

    def _engineio_server_class(self) -> Any:
        return self.engine_class

    async def _handle_eio_connect(self, eio_sid: str, environ: Any) -> None:
        await super()._handle_eio_connect(eio_sid, environ)
        self.transport_opened(eio_sid)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: str) -> None:
        await self.transport_closed(eio_sid, reason)

    async def _handle_disconnect(
        self, eio_sid: str, namespace: str, reason: str | None = None
    ) -> None:
        await self.namespace_disconnect(eio_sid, namespace, reason)

    async def _trigger_event(self, event: str, namespace: str, *args: Any) -> Any:
        return await self.run_lifecycle_handler(event, namespace, *args)

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        self.send_packet(eio_sid, pkt)

    # -- implemented by socketsvc's server ---------------------------------------------------

    def transport_opened(self, eio_sid: str) -> None:
        raise NotImplementedError

    async def transport_closed(self, eio_sid: str, reason: str) -> None:
        raise NotImplementedError

    async def namespace_disconnect(
        self, eio_sid: str, namespace: str, reason: str | None = None
    ) -> None:
        raise NotImplementedError

    async def run_lifecycle_handler(self, event: str, namespace: str, *args: Any) -> Any:
        raise NotImplementedError

    def send_packet(self, eio_sid: str, pkt: Any) -> None:
        raise NotImplementedError

    # -- python-socketio's own flows, for socketsvc's server to build on ----------------------

    async def base_transport_closed(self, eio_sid: str, reason: str) -> None:
        """Every namespace of the transport disconnects, then its environ is dropped."""
        await super()._handle_eio_disconnect(eio_sid, reason)

    async def base_namespace_connect(self, eio_sid: str, namespace: str, auth: Any) -> None:
        """pre_connect, the connect handler (through ``run_lifecycle_handler``), then
        CONNECT or CONNECT_ERROR (through ``send_packet``) and the manager's bookkeeping."""
        await super()._handle_connect(eio_sid, namespace, auth)

    async def base_namespace_disconnect(
        self, eio_sid: str, namespace: str, reason: str | None
    ) -> None:
        await super()._handle_disconnect(eio_sid, namespace, reason)

    async def base_ack(self, eio_sid: str, namespace: str, id: int, data: Any) -> None:
        """The client's answer to ``emit(callback=...)`` or ``call()``."""
        await self._handle_ack(eio_sid, namespace, id, data)


class ManagerBase(socketio.AsyncManager):  # type: ignore[misc]
    """python-socketio's in-memory manager, with a per-client room index kept by subclasses."""

    rooms: dict[str, dict[Any, Any]]  # namespace -> room -> bidict(sid -> eio_sid)

    def reused_sid(self, eio_sid: str, namespace: str) -> str | None:
        """The sid the connect of ``eio_sid`` to ``namespace`` under way takes instead of a
        new one (a recovered session keeps its sid); None: a new one."""
        return None

    async def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        sid = self.reused_sid(eio_sid, namespace)
        if sid is None:
            new: str | None = await super().pre_connect(eio_sid, namespace)
            return new
        # python-socketio's BaseManager.pre_connect, with the given sid for a generated one.
        try:
            self.basic_enter_room(sid, namespace, None, eio_sid=eio_sid)
        except ValueDuplicationError:
            return None
        self.basic_enter_room(sid, namespace, sid, eio_sid=eio_sid)
        self.pending_connect.setdefault(namespace, []).append(sid)
        return sid

    def settled(self, sid: str, namespace: str) -> bool:
        """``is_connected`` for a sid found in the namespace's table by its eio_sid: while
        no client is connecting or disconnecting (python-socketio drops a namespace's pending
        list when it empties), such a sid is connected, and the check costs no lookup."""
        if self.pending_connect or self.pending_disconnect:
            return bool(self.is_connected(sid, namespace))
        return True

    def rooms_of_client(self, sid: str, namespace: str) -> list[Any]:
        """Every room ``sid`` is in, its own sid room and the ``None`` room included."""
        raise NotImplementedError

    def ack_id(self, sid: str, callback: Callable[..., Any]) -> int:
        """A new ack id for a packet to ``sid``; the client's ACK with it calls ``callback``."""
        return self._generate_ack_id(sid, callback)  # type: ignore[no-any-return]

    def drop_ack_id(self, sid: str, ack_id: int) -> None:
        """Forget an ack id whose packet was never sent (python-socketio keeps it until the
        client disconnects otherwise)."""
        waiting = self.callbacks.get(sid)
        if waiting is not None:
            waiting.pop(ack_id, None)

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        """python-socketio's cleanup of one client, shown only the client's own rooms.

        Its cleanup scans every room of the namespace (a copy, then a membership test per
        room): with a sid room per client that is O(clients) per disconnect, and quadratic
        when thousands disconnect at once. It runs here against a view holding just this
        client's rooms (the same room objects); rooms it empties are then dropped from the
        real table too. Everything else it cleans (acks, pending connects and disconnects,
        and whatever a later release adds) is python-socketio's own code."""
        namespaces: dict[str, Any] = self.rooms
        table = namespaces.get(namespace)
        if table is None:
            super().basic_disconnect(sid, namespace, **kwargs)
            return
        own = [room for room in self.rooms_of_client(sid, namespace) if room in table]
        self.rooms = {namespace: {room: table[room] for room in own}}
        try:
            super().basic_disconnect(sid, namespace, **kwargs)
        finally:
            self.rooms = namespaces
        for room in own:
            if room in table and not table[room]:
                del table[room]
        if not table:
            namespaces.pop(namespace, None)


class PubSubManager(AsyncPubSubManager):  # type: ignore[misc]
    """python-socketio's pub/sub manager with its hooks mapped to named methods."""

    async def _publish(self, data: dict[str, Any]) -> None:
        await self.publish(data)

    def _listen(self) -> AsyncIterator[dict[str, Any]]:
        return self.listen()

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        await self.deliver_remote(message)

    async def publish(self, data: dict[str, Any]) -> None:
        raise NotImplementedError

    def listen(self) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError

    async def deliver_remote(self, message: dict[str, Any]) -> None:
        """An emit published by another node, for this node's clients."""
        raise NotImplementedError

    async def base_deliver_remote(self, message: dict[str, Any]) -> None:
        """python-socketio's handling of a remote emit (which drops ``volatile``)."""
        await super()._handle_emit(message)

    async def run_listener(self) -> None:
        """python-socketio's listener loop: every message ``listen`` yields is dispatched to
        its handler (emit, callback, disconnect, rooms); its own echo is skipped."""
        await self._thread()
