"""Messages and bytes through a node's engine, as plain integers the transports add to inline.

These are the per-message numbers (every frame in, every message queued out). A call into an
observer for each costs more than the counting itself, so nobody is called: whoever wants
them reads the totals when asked (a ``/metrics`` scrape, the Admin UI's stats tick).
"""

from __future__ import annotations


class Traffic:
    """Running totals since the node started; only ever grow."""

    __slots__ = ("bytes_in", "bytes_out", "messages_out", "packets_in")

    def __init__(self) -> None:
        self.packets_in = 0  # Engine.IO packets read: one per websocket frame, per POST packet
        self.bytes_in = 0  # their size (a websocket text frame in characters)
        self.messages_out = 0  # messages queued for clients, one per recipient
        self.bytes_out = 0  # their payload size (text in characters)

    def totals(self) -> tuple[int, int, int, int]:
        """``(packets_in, bytes_in, messages_out, bytes_out)``."""
        return self.packets_in, self.bytes_in, self.messages_out, self.bytes_out
