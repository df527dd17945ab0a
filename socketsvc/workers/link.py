"""Frames between the processes of one machine: the primary's hub and its workers.

A connection is a Unix stream socket carrying frames: a 4-byte big-endian length, one byte of
kind, then the payload (msgpack, see :mod:`socketsvc.scaleout.bus`). Frames sent in one turn of
the event loop leave in one write, so a burst of emits costs one system call, not one each.

Only the bus (other workers' emits, python-socketio's room and ack messages) may be dropped: when
a peer stops reading and more than :data:`BUS_LIMIT` bytes wait for it, at-most-once as the
Redis bus is. Everything else waits, up to :data:`HARD_LIMIT`, past which the peer is cut off
(a worker that stopped reading for that long is broken; the primary restarts it).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from enum import IntEnum
from typing import Any, cast

from socketsvc.scaleout import bus

log = logging.getLogger("socketsvc.workers")

HEADER = struct.Struct(">IB")  # length of kind + payload, kind
BUS_LIMIT = 32 * 1024 * 1024  # bytes waiting for a peer past which bus frames are dropped
HARD_LIMIT = 256 * 1024 * 1024  # past this the peer is cut off
MAX_FRAME = 64 * 1024 * 1024  # a longer frame is a broken peer


class Kind(IntEnum):
    """What a frame is; worker -> hub (W), hub -> worker (H)."""

    HELLO = 1  # W: [index, pid]; H: [epoch, last offset number, workers configured]
    READY = 2  # W: the worker serves
    BUS = 3  # W and H: a bus message (bus.encode), relayed to every other worker
    CAST = 4  # W: [store, method, args]: no answer
    CALL = 5  # W: [id, store, method, args]; H: RESULT
    RESULT = 6  # H: [id, value]
    # W: [namespace, rooms, skip, window, packed args, once or None]: a stored emit, where
    # once is [key, packed answer, seconds] (sio/once.py)
    APPEND = 7
    ENTRY = 8  # H: [offset number, namespace, rooms, skip, packed args, appender]: to every worker
    ASK = 9  # W: [rid or None, body]; H: [asker, rid, body] to every other worker
    COUNT = 10  # H: [rid, how many workers were asked]
    ANSWER = 11  # W: [asker, rid, value]; H: [rid, value] to the asker
    SENT = 12  # H: [packed answer]: to the appender, for an APPEND whose once key was sent


OnFrame = Callable[["Link", Kind, bytes], None]


def frame(kind: Kind, payload: bytes) -> bytes:
    return HEADER.pack(len(payload) + 1, kind) + payload


def packed(kind: Kind, value: Any) -> bytes:
    """A frame whose payload is ``value`` packed as nodes exchange values (raises as
    :func:`~socketsvc.scaleout.bus.pack` does)."""
    return frame(kind, bus.pack(value))


class Link(asyncio.Protocol):
    """One end of a connection: frames in (``on_frame``), frames out (:meth:`send`)."""

    def __init__(self, on_frame: OnFrame, on_lost: Callable[[Link], None]) -> None:
        self.on_frame = on_frame
        self.on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self.dropped = 0  # bus frames dropped because the peer did not read
        self._in = bytearray()
        self._out: list[bytes] = []
        self._waiting = 0  # bytes in _out
        self._flush: asyncio.Handle | None = None

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    # -- out ------------------------------------------------------------------------------------

    def send(self, data: bytes, droppable: bool = False) -> bool:
        """Queue one frame (or several, concatenated); False when it was dropped."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        backlog = self._waiting + transport.get_write_buffer_size()
        if backlog > BUS_LIMIT and (droppable or backlog > HARD_LIMIT):
            if not droppable:
                log.error("cutting off a peer that stopped reading (%d bytes waiting)", backlog)
                transport.abort()
                return False
            self.dropped += 1
            return False
        self._out.append(data)
        self._waiting += len(data)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_soon(self._write)
        return True

    def _write(self) -> None:
        self._flush = None
        out, self._out, self._waiting = self._out, [], 0
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._write()
        if self.transport is not None:
            self.transport.close()

    # -- in -------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        buffer = self._in
        buffer += data
        position, end = 0, len(buffer)
        while end - position >= HEADER.size:
            size, kind = HEADER.unpack_from(buffer, position)
            if size > MAX_FRAME or size < 1:
                log.error("closing a link that sent a frame of %d bytes", size)
                self._in = bytearray()
                if self.transport is not None:
                    self.transport.abort()
                return
            stop = position + 4 + size
            if stop > end:
                break
            payload = bytes(buffer[position + HEADER.size : stop])
            position = stop
            try:
                self.on_frame(self, Kind(kind), payload)
            except Exception:
                log.exception("handling a %s frame failed", kind)
        del buffer[:position]

    def connection_lost(self, exc: Exception | None) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        self.transport = None
        self.on_lost(self)
