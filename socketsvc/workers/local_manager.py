"""Rooms and broadcasts shared by the workers of one machine (``--workers N`` without Redis).

:class:`LocalManager` is, like :class:`~socketsvc.scaleout.redis_manager.RedisManager`, a
:class:`~socketsvc.scaleout.bus_manager.BusManager`, with the primary's hub in place of Redis
pub/sub: a python-socketio pub/sub manager (rooms, disconnects and acks of clients on other
workers), with encode-once local delivery and the same bus format (:mod:`socketsvc.scaleout.bus`).
The hub relays each message to every other worker.

Who sees an emit: every client in the room on every worker, except ``skip_sid``. An emit does
not wait for delivery: this worker's clients get it at once, the others' as soon as the hub
relays it. In a namespace with recovery it is stored first (:mod:`.local_recovery`): the emit
returns once the hub has given it its place in the log (one round trip, as an XADD on Redis),
so an emit a handler awaited comes before any later one on any worker, and every worker
delivers it from the log, in the log's order. Should a worker stop reading, bus messages for it are
dropped (at-most-once, as on Redis) and counted in ``bus_dropped_total``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from socketsvc.errors import Unencodable, UnsupportedValue
from socketsvc.scaleout import bus
from socketsvc.scaleout.bus_manager import BusManager
from socketsvc.sio.disconnects import Selection
from socketsvc.sio.observer import Observer
from socketsvc.sio.once import Once
from socketsvc.sio.recovery import skipped, target

from .client import HubClient
from .local_recovery import LocalRecovery

log = logging.getLogger("socketsvc.bus")


class LocalManager(BusManager):
    """Cross-worker rooms through the hub, with non-blocking, encode-once local delivery."""

    name = "socketsvc-workers"
    peers = "other workers"

    def __init__(self, hub: HubClient, stream: LocalRecovery, observer: Observer) -> None:
        super().__init__(channel="workers", logger=log)
        self.hub = hub
        self.stream = stream
        self.observer = observer  # python-socketio's __init__ passes no arguments on
        self.recovery = None  # stored emits go through ``stream``, not FanoutManager's log
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._listener: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def initialize(self) -> None:
        """Nothing to do on first connect: :meth:`start` runs the listener."""

    async def start(self) -> None:
        self.hub.on_bus = self._inbox.put_nowait
        self.stream.follow(self._deliver_entry)
        self._listener = asyncio.create_task(self.run_listener(), name="socketsvc-bus-listener")

    async def stop(self) -> None:
        self._inbox.put_nowait(None)
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.wait([self._listener], timeout=3.0)

    def problem(self) -> str | None:
        return self.hub.problem()

    # -- emit -----------------------------------------------------------------------------------

    async def emit_kept(
        self, namespace: str, room: Any, skip_sid: Any, args: list[Any], once: Once | None
    ) -> bool:
        if not self.stream.windows(namespace):
            return False
        rooms, skip = target(room), skipped(skip_sid)
        try:
            appended = await self.stream.publish(namespace, rooms, skip, args, once)
        except Unencodable as exc:  # as on Redis: this worker's clients still get it
            self.log_refusal(exc.cause, "not stored nor sent to other workers: %s", exc.message)
            self.deliver(namespace, room, skip_sid, args)
            raise
        if not appended.placed and not appended.sent_before:
            self.deliver(namespace, room, skip_sid, args)  # the hub is gone: no offset
        return True  # else every worker, this one too, delivers it from the log, in order

    def send_bus(self, raw: bytes, namespace: str, room: Any) -> None:
        self._send(raw)

    async def first(self, namespace: str, once: Once) -> bool:
        """Whether ``once`` is the machine's first emit of its key (the hub records it); while
        the hub is gone every send is a first, so a retry is sent again rather than lost."""
        answer = bus.pack(once.answer)
        earlier = await self.hub.call("once", "first", namespace, once.key, answer, once.seconds)
        if earlier is None:
            return True
        once.earlier = bus.unpack(earlier[0])
        return False

    def _deliver_entry(
        self, namespace: str, rooms: list[str] | None, skip: list[str], args: list[Any]
    ) -> None:
        # what some format cannot carry the others got; the fan-out logged it once
        with contextlib.suppress(Unencodable):
            self.deliver(namespace, rooms, skip, args)

    async def publish(self, data: dict[str, Any]) -> None:
        """python-socketio's messages (rooms, disconnects, acks): sent, never waited for."""
        try:
            self._send(bus.encode(data))
        except Unencodable as exc:
            self.log_refusal(exc.cause, "not sent to other workers: %s", exc.message)
        except UnsupportedValue as exc:  # a handler's bug, but logged once per cause too
            self.log_refusal(exc.type_name, "not sent to other workers: %s", exc)

    def drop_elsewhere(self, sid: str, namespace: str, eio_sid: str) -> None:
        """python-socketio's bus ``disconnect`` for ``sid``, done only by the worker whose
        connection of ``sid`` is ``eio_sid`` (:meth:`listen` filters it): a reconnect that
        took a session over drops the old connection, never a newer one with the same sid."""
        message = {"method": "disconnect", "sid": sid, "namespace": namespace}
        self._send(bus.encode({**message, "eio_sid": eio_sid, "host_id": self.host_id}))

    def publish_disconnect(self, selection: Selection) -> None:
        message = {"method": bus.DISCONNECT_CLIENTS, **selection.fields(), "host_id": self.host_id}
        self._send(bus.encode(message))

    def _send(self, raw: bytes) -> None:
        if self.hub.send_bus(raw):
            self.observer.bus_published(1)
        else:
            self.observer.bus_dropped(1)

    # -- what the other workers send ------------------------------------------------------------

    async def listen(self) -> AsyncIterator[dict[str, Any]]:
        while (raw := await self._inbox.get()) is not None:
            try:
                message = bus.decode(raw)
            except bus.BadMessage as exc:
                log.warning("ignoring a message from another worker: %s", exc)
                continue
            self.observer.bus_received()
            if message["method"] == bus.DISCONNECT_CLIENTS:
                self._disconnect_here(message)
                continue
            if message["method"] == "disconnect" and "eio_sid" in message:
                namespace = message.get("namespace") or "/"
                if self.eio_sid_from_sid(message.get("sid"), namespace) != message["eio_sid"]:
                    continue  # a connection of another worker (drop_elsewhere)
            yield message

    def _disconnect_here(self, message: dict[str, Any]) -> None:
        fields = {k: v for k, v in message.items() if k not in ("method", "host_id", "v")}
        try:
            selection = Selection.of(fields)
        except ValueError as exc:
            log.warning("ignoring disconnect_clients from another worker: %s", exc)
            return
        self.server.disconnect_here(selection)
