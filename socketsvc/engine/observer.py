"""What the Engine.IO layer reports while it works, for whoever watches a node (metrics, the
Admin UI).

:class:`EngineObserver` is the interface and, as it is, the null observer: every method does
nothing, and that is what the engine holds when nobody watches. A watcher overrides the
methods it needs. The Socket.IO layer extends it (``sio/observer.py``) so that one object sees
both layers.

Contract for implementations: calls come synchronously from the event loop, in the middle of
the engine's own work. They must not block, raise or call back into the engine; anything slower
than a few dict updates is queued and done later. Nothing here is called per message: messages
and bytes are totals the engine keeps itself (:class:`~socketsvc.engine.traffic.Traffic`).
"""

from __future__ import annotations


class EngineObserver:
    """Transport-level happenings of one node; every method is a no-op here."""

    __slots__ = ()

    def transport_opened(self, eio_sid: str, transport: str) -> None:
        """A handshake succeeded: a new session on ``polling`` or ``websocket``."""

    def transport_upgraded(self, eio_sid: str) -> None:
        """A polling session moved to websocket."""

    def transport_closed(self, eio_sid: str, reason: str) -> None:
        """A session ended (python-engineio's reason strings: ``ping timeout``, ...)."""

    def handshake_refused(self, reason: str) -> None:
        """A handshake was refused before a session existed: ``origin`` (403) or
        ``too_many_connections`` (429)."""

    def slow_consumer_cut(self, eio_sid: str) -> None:
        """A session's outgoing backlog passed ``max_buffer_bytes``; it is being closed."""
