"""Emits made at most once per key: a client that retries a send (it got no ack: its connection
dropped, or the node died) must not have it broadcast twice, nor lose it.

The check, the record and the emit are one step: in memory they run without a pause; with Redis
and recovery, in the script that appends the emit to the recovery stream (so a node that dies at
any moment leaves either both the emit and its record, and a retry is answered with the first
answer, or neither, and the retry sends it); on the Redis bus, a SET NX before the publish (the
bus is at-most-once anyway).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

MAX_REMEMBERED = 100_000  # keys a node keeps in memory at most (oldest forgotten first)


@dataclass
class Once:
    """An emit made at most once per ``key`` within ``seconds``: the first stores ``answer``
    (what its sender was told); a later one with the same key sends nothing, and finds that
    first answer in :attr:`earlier`."""

    key: str
    answer: Any
    seconds: float
    earlier: Any = None


class SentOnce:
    """The keys of emits already made, in this process (what the memory manager checks)."""

    def __init__(self) -> None:
        self._sent: OrderedDict[tuple[str, str], tuple[Any, float]] = OrderedDict()

    def first(self, namespace: str, once: Once) -> bool:
        """Whether this is the first emit of ``once.key`` in ``namespace`` (it is recorded);
        if not, :attr:`Once.earlier` is set."""
        now = time.monotonic()
        while self._sent and next(iter(self._sent.values()))[1] <= now:
            self._sent.popitem(last=False)  # expired, oldest first
        earlier = self._sent.get((namespace, once.key))
        if earlier is not None and earlier[1] > now:
            once.earlier = earlier[0]
            return False
        self._sent[(namespace, once.key)] = (once.answer, now + once.seconds)
        if len(self._sent) > MAX_REMEMBERED:
            self._sent.popitem(last=False)
        return True
