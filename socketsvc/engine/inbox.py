"""Incoming websocket messages handled where aiohttp's frame parser produces them.

Stock aiohttp puts every parsed message in a queue, wakes the reading task and hands the
message over through two coroutines (``receive()``, ``read()``): per message that costs more
than the Engine.IO and Socket.IO work it carries. ``Inbox`` replaces that queue. While the
session's reader is parked on it with nothing queued, a data message is handled at once,
inside ``data_received``; only work that must wait (a control packet, a packet whose handling
suspends) goes through the queue, and every later message lines up behind it, so the order
of one client's messages is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from aiohttp import WSMsgType, web
from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader
from aiohttp.helpers import DEFAULT_CHUNK_SIZE

log = logging.getLogger("socketsvc.engine")

# Handle one message's data now; return what is left to await before the next one, or None.
Deliver = Callable[[str | bytes], Awaitable[None] | None]

_DATA = (WSMsgType.TEXT, WSMsgType.BINARY)


class Held(NamedTuple):
    """The unfinished rest of a message handled in ``data_received``, queued in its place."""

    type: WSMsgType
    data: None
    pending: Awaitable[None]


class Inbox(WebSocketDataQueue):
    """aiohttp's websocket message queue with a synchronous fast lane (see module doc)."""

    __slots__ = ("deliver", "parked")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deliver: Deliver | None = None
        self.parked = False  # the reader awaits receive() on this queue

    def feed_data(self, msg: Any, size: int) -> None:
        deliver = self.deliver
        if deliver is not None and self.parked and not self._buffer and msg.type in _DATA:
            try:
                pending = deliver(msg.data)
            except Exception:  # never let the application break aiohttp's parser
                log.exception("message handler error")
                return
            if pending is None:
                return
            msg, size = Held(WSMsgType.TEXT, None, pending), 0
        elif msg.type is WSMsgType.CLOSE:
            self.deliver = None  # nothing after the client's CLOSE frame is handled
        super().feed_data(msg, size)

    def drop_held(self) -> None:
        """Close the unfinished work still queued when the session ends unread (never
        awaited, a coroutine would warn when collected)."""
        item: Any
        for item, _ in self._buffer:
            if type(item) is Held:
                close = getattr(item.pending, "close", None)
                if close is not None:
                    close()


class InboxResponse(web.WebSocketResponse):
    """A ``WebSocketResponse`` whose parser feeds an ``Inbox``.

    Mirrors ``WebSocketResponse._post_start`` of aiohttp 3.14 (pinned in pyproject.toml),
    with the queue class swapped; tests/test_ws_inbox.py fails if that method changes shape.
    """

    def _post_start(self, request: web.BaseRequest, protocol: str | None, writer: Any) -> None:
        self._ws_protocol = protocol
        self._writer = writer
        self._reset_heartbeat()
        assert self._loop is not None
        self._reader = Inbox(request._protocol, DEFAULT_CHUNK_SIZE, loop=self._loop)
        self._parser = WebSocketReader(
            self._reader,
            self._max_msg_size,
            compress=bool(self._compress),
            decode_text=self._decode_text,
        )
        on_data = None if self._heartbeat is None else self._on_data_received
        request.protocol.set_parser(self._parser, data_received_cb=on_data)
        request.protocol.keep_alive(False)
        # The HTTP parser has nothing left to parse on this connection (aiohttp checks for
        # None, as after connection_lost); dropping it frees about 700 bytes per websocket.
        request.protocol._parser = None

    @property
    def inbox(self) -> Inbox:
        assert isinstance(self._reader, Inbox)
        return self._reader
