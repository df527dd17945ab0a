"""What every manager with a bus does the same way, whether the bus joins nodes (Redis) or the
workers of one machine (the primary's hub): an emit reaches this node's clients at once and
its peers through the bus, or, when its namespace keeps emits for recovery, through the
recovery log only; an emit from a peer is delivered to this node's clients.

A subclass says how its bus sends (:meth:`send_bus`), how a retried send is recognised
(:meth:`first`) and how its recovery log takes an emit (:meth:`emit_kept`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from socketsvc.errors import Unencodable
from socketsvc.scaleout import bus
from socketsvc.sio._socketio import PubSubManager
from socketsvc.sio.fanout import FanoutManager
from socketsvc.sio.once import Once


class BusManager(PubSubManager, FanoutManager):
    """python-socketio's pub/sub manager over socketsvc's local fan-out, with one emit path."""

    peers = "other nodes"  # who the bus reaches, as log lines name them

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Callable[..., Any] | None = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("ignore_queue") or callback is not None:
            # Local-only emits, and acks across peers: python-socketio's path (it publishes
            # through ``publish``).
            await super().emit(
                event,
                data,
                namespace or "/",
                room=room,
                skip_sid=skip_sid,
                callback=callback,
                to=to,
                **kwargs,
            )
            return
        namespace = namespace or "/"
        room = to if to is not None else room
        volatile = bool(kwargs.get("volatile"))
        once: Once | None = kwargs.get("once")
        values = list(data) if isinstance(data, tuple) else [data]
        if not volatile and await self.emit_kept(namespace, room, skip_sid, [event, *values], once):
            return
        if once is not None and not await self.first(namespace, once):
            return  # sent already: once.earlier holds its answer
        message = {
            "method": "emit",
            "event": event,
            "data": values,
            "binary": False,  # msgpack carries bytes as they are
            "namespace": namespace,
            "room": room,
            "skip_sid": skip_sid,
            "callback": None,
            "host_id": self.host_id,
        }
        if volatile:
            message["volatile"] = True
        try:
            raw: bytes | None = bus.encode(message)
            failure = None
        except Unencodable as exc:
            raw, failure = None, exc
            self.log_refusal(exc.cause, "not sent to %s: %s", self.peers, exc.message)
        # This node's clients, then the peers through the bus; what one of them cannot carry
        # does not keep it from the rest.
        try:
            await FanoutManager.emit(
                self, event, data, namespace, room=room, skip_sid=skip_sid, volatile=volatile
            )
        finally:
            if raw is not None:
                self.send_bus(raw, namespace, room)
        if failure is not None:
            raise failure

    async def emit_kept(
        self, namespace: str, room: Any, skip_sid: Any, args: list[Any], once: Once | None
    ) -> bool:
        """Send an emit (``args``: the event, then its arguments) through the recovery log
        when ``namespace`` keeps emits for recovery: every node, this one too, delivers it
        from the log, in order. False when the namespace keeps nothing: the bus carries it."""
        return False

    async def first(self, namespace: str, once: Once) -> bool:
        """Whether ``once`` is its key's first send among all peers (else ``once.earlier``
        holds the first's answer)."""
        raise NotImplementedError

    def send_bus(self, raw: bytes, namespace: str, room: Any) -> None:
        """Hand an encoded bus message to the peers; never waits."""
        raise NotImplementedError

    async def deliver_remote(self, message: dict[str, Any]) -> None:
        """A peer's emit, for this node's clients; volatile ones are dropped here too for
        clients with a backlog. Clients whose format cannot carry it were logged (once per
        cause) by the fan-out; that is no error of the bus listener."""
        try:
            if not message.get("volatile"):
                await self.base_deliver_remote(message)
                return
            data = message["data"]
            await FanoutManager.emit(
                self,
                message["event"],
                data[0] if len(data) == 1 else tuple(data),
                message.get("namespace") or "/",
                room=message.get("room"),
                skip_sid=message.get("skip_sid"),
                volatile=True,
            )
        except Unencodable:
            pass
