"""What a node reports while it works: one interface for metrics and the Admin UI alike.

:class:`Observer` extends the engine's :class:`~socketsvc.engine.observer.EngineObserver` with
the Socket.IO layer (namespaces, events, acks, emits, rooms) and the node's cross-node
backends (the Redis bus and presence), which report through the same object. Every method is
a no-op, so an ``Observer()`` is the null observer the server holds when nothing watches. A
watcher subclasses it and overrides what it needs; :func:`combine` lets several watch at once.

The engine's contract holds for every method here: synchronous, on the event loop, never
blocking or raising. An event costs two calls (:meth:`event_received` as it starts,
:meth:`event_handled` when its handler and ack are done), an emit one (:meth:`emitted`); those
cost no more than a few dict updates. Namespaces are the concrete ones (``/team/a``); bounding
labels is the watcher's business.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from socketsvc.engine.observer import EngineObserver

# Why a recovery missed: no session under that pid (never, expired, taken, or its older
# connection still leaving), or the client missed more than the log still keeps.
MISS_REASONS = ("unknown_session", "missed_too_much")


class Observer(EngineObserver):
    """Everything a node reports; every method is a no-op here (the null observer)."""

    __slots__ = ()

    # -- namespaces --------------------------------------------------------------------------

    def namespace_connected(self, namespace: str, sid: str, eio_sid: str) -> None:
        """A client joined ``namespace`` (it has been sent CONNECT)."""

    def namespace_refused(self, namespace: str, code: str) -> None:
        """A namespace connect was refused; ``code`` is the CONNECT_ERROR ``data.code``
        (``unauthorized``, ``limit_exceeded``, ``invalid_namespace``, ``refused`` when the
        handler gave none, ...)."""

    def namespace_disconnected(self, namespace: str, sid: str, reason: str) -> None:
        """A client left ``namespace``; ``reason`` is python-socketio's."""

    # -- events and acks ---------------------------------------------------------------------

    def event_received(self, namespace: str, sid: str, args: list[Any]) -> None:
        """A client's event, ``args`` = ``[name, *data]``, about to start its handler."""

    def event_handled(self, namespace: str, seconds: float, acked: bool, error: str | None) -> None:
        """An event's handler ran for ``seconds`` in its own task, its ack included (sent when
        ``acked``); ``error`` is the code of an error ack ``{"error": {"code"}}``, else None.
        One call for all three, because this is the hot path."""

    def refused(self, namespace: str, code: str) -> None:
        """An event got an error ack with ``code`` and no handler ran (``rate_limited``,
        ``invalid_payload``, ``unknown_event``). Only for events that asked for an ack."""

    def ack_received(self, namespace: str) -> None:
        """A client answered the server's ``call()`` or ``emit(callback=...)``."""

    def rate_limited(self, namespace: str, disconnected: bool) -> None:
        """An event was over the rate limit: refused, or (``disconnected``) the client cut."""

    def emitted(
        self, namespace: str, room: Any, skip_sid: Any, args: list[Any], recipients: int
    ) -> None:
        """An event went to this node's clients in ``room`` (None: the namespace) except
        ``skip_sid``; ``recipients`` of them were reached. Once per emit, not per client."""

    # -- rooms -------------------------------------------------------------------------------

    def room_joined(self, namespace: str, room: str, sid: str) -> None:
        """``sid`` entered ``room`` (its own sid room included)."""

    def room_left(self, namespace: str, room: str, sid: str) -> None:
        """``sid`` left ``room``."""

    # -- connection-state recovery (issue #16) -----------------------------------------------

    def recovery_hit(self, namespace: str, sid: str) -> None:
        """A reconnecting client got its session back (same sid, missed packets replayed)."""

    def recovery_miss(self, namespace: str, reason: str) -> None:
        """A client asked for recovery and got a fresh session; ``reason`` is one of
        :data:`MISS_REASONS`."""

    # -- cross-node backends -----------------------------------------------------------------

    def bus_published(self, messages: int) -> None:
        """Messages this node published to the other nodes."""

    def bus_received(self) -> None:
        """A message from another node arrived on the bus (own echoes excluded)."""

    def bus_dropped(self, messages: int) -> None:
        """Messages that could not be published (Redis unreachable, or the outbox full)."""

    def bus_ignored(self, cause: str) -> None:
        """A message on the Redis channels was bad input and was ignored (garbage, a request
        type from a newer adapter, a packet for an unknown namespace); ``cause`` is short."""

    def backend_down(self, component: str) -> None:
        """A backend component (``bus``, ``presence``) lost Redis: an outage began."""

    def backend_up(self, component: str, reconnected: bool) -> None:
        """A component reached Redis: the first time, or (``reconnected``) after an outage."""

    def presence_refreshed(self, seconds: float) -> None:
        """This node rewrote its presence entries; it took ``seconds``."""


HOOKS = tuple(
    name
    for cls in (EngineObserver, Observer)
    for name, member in vars(cls).items()
    if callable(member) and not name.startswith("_")
)


class _Combined(Observer):
    """Several observers as one: each hook calls the subscribers that override it, directly
    when only one does, so a hook nobody overrides stays a no-op."""

    def __init__(self, observers: list[Observer]) -> None:
        for name in HOOKS:
            calls = [getattr(o, name) for o in observers if _overrides(type(o), name, Observer)]
            if len(calls) == 1:
                setattr(self, name, calls[0])
            elif calls:
                setattr(self, name, _each(calls))


def listens(observer: Observer, hook: str) -> bool:
    """Whether ``observer`` does anything on ``hook``: callers on the hot path skip calling
    a hook nobody listens to."""
    return hook in getattr(observer, "__dict__", ()) or _overrides(type(observer), hook, Observer)


def _overrides(cls: type, name: str, base: type) -> bool:
    return getattr(cls, name) is not getattr(base, name)


def _each(calls: list[Callable[..., None]]) -> Callable[..., None]:
    def call(*args: Any) -> None:
        for c in calls:
            c(*args)

    return call


def combine(*observers: Observer | None) -> Observer:
    """One observer for all given ones (None entries skipped): the null observer for none,
    the observer itself for one."""
    present = [o for o in observers if o is not None]
    if not present:
        return Observer()
    if len(present) == 1:
        return present[0]
    return _Combined(present)
