"""Frames for one transport written in the same event-loop turn go out in one write."""

from __future__ import annotations

import asyncio


class WriteCoalescer:
    """Frames for one transport written in the same event-loop turn go out in one write.

    A client that sends several events in one TCP segment gets all their acks in one
    segment, with one system call; order per transport is kept, and the flush runs before
    any task woken later in the same turn (callbacks run first in, first out).

    A broadcast is different: holding 1000 recipients' frames until the fan-out is done
    delays the first of them by the whole fan-out. ``write_now`` sends a transport's first
    frame of the turn at once and coalesces only what follows it in the same turn.
    """

    def __init__(self) -> None:
        self.pending: dict[asyncio.WriteTransport, list[bytes]] = {}
        self.written: set[asyncio.WriteTransport] = set()  # by write_now, this turn

    def write(self, transport: asyncio.WriteTransport, frame: bytes) -> None:
        frames = self.pending.get(transport)
        if frames is not None:
            frames.append(frame)
            return
        if not self.pending and not self.written:  # the turn's first: schedule the flush
            asyncio.get_running_loop().call_soon(self.flush)
        self.pending[transport] = [frame]

    def write_now(self, transport: asyncio.WriteTransport, frame: bytes) -> None:
        if transport in self.written or transport in self.pending:
            self.write(transport, frame)
            return
        if not self.pending and not self.written:
            asyncio.get_running_loop().call_soon(self.flush)
        transport.write(frame)
        self.written.add(transport)

    def flush(self) -> None:
        pending, self.pending = self.pending, {}
        self.written.clear()
        for transport, frames in pending.items():
            if not transport.is_closing():
                transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
