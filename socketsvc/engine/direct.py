"""Direct delivery: a websocket message is handled where aiohttp's frame parser produces it.

Stock aiohttp puts every parsed message in a queue, wakes the reading task and hands the
message over through two coroutines (``receive()``, ``read()``); per message that costs more
than the Engine.IO and Socket.IO work it carries. :class:`DirectQueue` replaces that queue.
While the session's reader is parked on it with nothing queued, a data message is handled at
once, inside ``data_received``; only work that must wait (a control packet, a connect whose
handler suspends) goes through the queue as a :class:`Deferred`, and every later message
lines up behind it, so the order of one client's messages is kept.

Handlers never run here: the application starts them in tasks of their own (sio/tasks.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from aiohttp import WSMsgType, web

from ._aiohttp import POST_START_COPIED, QueueBase, QueueSwappingResponse

log = logging.getLogger("socketsvc.engine")

# Handle one message's data now; return what is left to await before the next one, or None.
Deliver = Callable[[str | bytes], Awaitable[None] | None]

_DATA = (WSMsgType.TEXT, WSMsgType.BINARY)


class Deferred(NamedTuple):
    """The unfinished rest of a message handled in ``data_received``, queued in its place
    (shaped like aiohttp's ``WSMessage`` so it travels through the same queue)."""

    type: WSMsgType
    data: None
    pending: Awaitable[None]


class DirectQueue(QueueBase):
    """aiohttp's websocket message queue with a synchronous fast lane (see the module doc)."""

    __slots__ = ("deliver", "parked")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deliver: Deliver | None = None
        self.parked = False  # the reader awaits receive() on this queue

    def feed_data(self, msg: Any, size: int) -> None:
        deliver = self.deliver
        if deliver is not None and self.parked and not self.queued and msg.type in _DATA:
            try:
                pending = deliver(msg.data)
            except Exception:  # never let the application break aiohttp's parser
                log.exception("message handler error")
                return
            if pending is None:
                return
            msg, size = Deferred(WSMsgType.TEXT, None, pending), 0
        elif msg.type is WSMsgType.CLOSE:
            self.deliver = None  # nothing after the client's CLOSE frame is handled
        super().feed_data(msg, size)

    def drop_deferred(self) -> None:
        """Close the unfinished work still queued when the session ends unread (never
        awaited, a coroutine would warn when collected)."""
        for item, _ in self.queued:
            if type(item) is Deferred:
                close = getattr(item.pending, "close", None)
                if close is not None:
                    close()


class DirectWebSocketResponse(QueueSwappingResponse):
    """A ``WebSocketResponse`` whose parser feeds a :class:`DirectQueue`."""

    queue_class = DirectQueue


def websocket_response(max_msg_size: int) -> web.WebSocketResponse:
    """A websocket response with direct delivery where this aiohttp release allows it."""
    # permessage-deflate off, as Node's engine.io defaults: compressing every small frame
    # costs more CPU than it saves on a LAN or behind a compressing proxy.
    cls = DirectWebSocketResponse if POST_START_COPIED else web.WebSocketResponse
    return cls(max_msg_size=max_msg_size, compress=False)


def direct_queue(ws: web.WebSocketResponse) -> DirectQueue | None:
    """The direct-delivery queue of a prepared websocket, if it has one."""
    return ws.queue if isinstance(ws, DirectWebSocketResponse) else None  # type: ignore[return-value]
