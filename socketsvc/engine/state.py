"""The slots of an Engine.IO session, shared by ``EngineSession`` and its two transport halves.

A node keeps one session per connection. With more attributes than CPython keeps inline, an
instance would carry a full dict (about 1.6 KB); in slots they take 8 bytes each.
"""

from __future__ import annotations


class SessionState:
    """Every attribute of :class:`~socketsvc.engine.session.EngineSession` (set in its
    ``__init__``), as slots."""

    __slots__ = (
        "__weakref__",
        "_close_task",
        "_direct",
        "_finalize_handle",
        "_poll_request",
        "_pong_due",
        "_probed",
        "_send_close_on_flush",
        "_session",
        "_timeout_refreshed",
        "_upgrade_close_task",
        "_upgrade_settled",
        "_waiter",
        "_writer_task",
        "_ws",
        "_ws_active",
        "_ws_closing",
        "address",
        "buffer",
        "buffered_bytes",
        "closed",
        "closing",
        "connected",
        "loop",
        "receiving",
        "server",
        "sid",
        "upgraded",
        "upgrading",
    )
