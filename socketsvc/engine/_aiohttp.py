"""aiohttp: the only module of socketsvc that touches its private names.

Why any at all: socketsvc handles a websocket message where aiohttp's frame parser produces it,
instead of waking a reader task and passing the message through two coroutines (see
``engine/direct.py``; it halves the cost of a small message). aiohttp has no public hook for
that. The contacts, each pinned by tests/engine/test_aiohttp_fence.py:

- :class:`QueueBase` subclasses aiohttp's websocket message queue (``WebSocketDataQueue``),
  overriding ``feed_data(msg, size)`` and reading its ``_buffer``;
- :class:`QueueSwappingResponse` copies ``WebSocketResponse._post_start``, which creates that
  queue with no way to pass another class, and swaps the class. The copy is used only when the
  installed method's source is one of the versions it was copied from (:data:`POST_START`);
  otherwise websockets fall back to the stock response (correct, only slower) and a warning
  says so once;
- :func:`write_transport` reads ``WebSocketResponse._writer.transport``: the connection's
  transport, for direct frame writes and the slow-consumer backlog;
- :func:`drop_http_parser` clears ``RequestHandler._parser`` on an upgraded connection, which
  has nothing left to parse (about 700 bytes per idle websocket);
- :func:`share_mask_source` gives a server's websocket writer (``WebSocketResponse._writer``)
  one mask source shared by all: each writer builds its own ``partial(random.getrandbits, 32)``
  on aiohttp's one default ``Random``, and only a client's writer ever masks (264 bytes and a
  garbage-collected object per idle websocket);
- :func:`answer_and_close` writes a refusal and then force-closes the connection through
  ``request.protocol`` (aiohttp's ``RequestHandler``): otherwise aiohttp keeps reading the
  refused request's body for up to ``lingering_time`` (10 s), and if the client closes first
  that read never ends before the 10 s are up.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import inspect
import logging
from collections import deque
from typing import Any

from aiohttp import web
from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader
from aiohttp._websocket.writer import WebSocketWriter
from aiohttp.helpers import DEFAULT_CHUNK_SIZE

from socketsvc.dependencies import require

VERSION = require("aiohttp", (3, 14), (3, 15))

log = logging.getLogger("socketsvc.engine")

# sha256 of ``inspect.getsource(WebSocketResponse._post_start)`` for each aiohttp release whose
# method the copy below mirrors.
POST_START = {
    "5537cb3f2ecae6ed9f4d27d6d9255adb414e81efcc4d23ede6bacd762d56ed93": "3.14.5",
}


def source_hash(function: Any) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()


POST_START_COPIED = source_hash(web.WebSocketResponse._post_start) in POST_START
if not POST_START_COPIED:
    log.warning(
        "aiohttp %s changed WebSocketResponse._post_start: websocket messages go through "
        "aiohttp's reader task (slower) until socketsvc knows this release",
        VERSION,
    )


class QueueBase(WebSocketDataQueue):
    """aiohttp's websocket message queue; subclasses override ``feed_data(msg, size)``."""

    __slots__ = ("queued",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The messages waiting to be read, oldest first, as ``(message, size)``: aiohttp's own
        # deque (created once, never replaced), under a name of ours for the per-message check.
        self.queued: deque[tuple[Any, int]] = self._buffer


class QueueSwappingResponse(web.WebSocketResponse):
    """A ``WebSocketResponse`` whose frame parser feeds a ``queue_class`` queue."""

    queue_class: type[QueueBase]

    def _post_start(self, request: web.BaseRequest, protocol: str | None, writer: Any) -> None:
        # aiohttp 3.14.5's WebSocketResponse._post_start, with self.queue_class for the queue.
        self._ws_protocol = protocol
        self._writer = writer

        self._reset_heartbeat()

        loop = self._loop
        assert loop is not None
        self._reader = self.queue_class(request._protocol, DEFAULT_CHUNK_SIZE, loop=loop)
        # Owns the parser so a stalled reader parked on the queue by weakref
        # stays alive while this response can still be drained.
        self._parser = WebSocketReader(
            self._reader,
            self._max_msg_size,
            compress=bool(self._compress),
            decode_text=self._decode_text,
        )
        cb = None if self._heartbeat is None else self._on_data_received
        request.protocol.set_parser(self._parser, data_received_cb=cb)
        # disable HTTP keepalive for WebSocket
        request.protocol.keep_alive(False)

    @property
    def queue(self) -> QueueBase:
        queue = self._reader
        assert isinstance(queue, QueueBase)
        return queue


def write_transport(ws: web.WebSocketResponse) -> asyncio.WriteTransport | None:
    """The transport a prepared websocket writes to (None once the connection is gone)."""
    writer = ws._writer
    if writer is None:
        return None
    transport: asyncio.WriteTransport | None = writer.transport
    return transport


# What every server-side writer's ``get_random_bits`` is: aiohttp's default ``Random``, 32 bits.
MASK_SOURCE = functools.partial(
    inspect.signature(WebSocketWriter).parameters["random"].default.getrandbits, 32
)


def share_mask_source(ws: web.WebSocketResponse) -> None:
    """Swap a prepared server websocket's own copy of :data:`MASK_SOURCE` for the shared one
    (a server's frames are never masked: the writer never calls it)."""
    writer = ws._writer
    if writer is not None and not writer.use_mask:
        writer.get_random_bits = MASK_SOURCE


def drop_http_parser(request: web.BaseRequest) -> None:
    """Free the HTTP parser of an upgraded connection; aiohttp treats None as "none left"."""
    request.protocol._parser = None


async def answer_and_close(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """Write ``response`` now and close the connection after it, leaving the rest of the
    request body unread (as Node destroys a refused request). A client that is already gone
    gets nothing, quietly, as aiohttp itself treats a write to a lost connection."""
    with contextlib.suppress(ConnectionError):
        await response.prepare(request)
        await response.write_eof()
    request.protocol.force_close()
