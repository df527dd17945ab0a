"""What ``/chat`` remembers beyond the live connections: each room's recent messages (history
for members who join or come back), and the answers to messages already accepted, so that a
retried send is not broadcast twice.

:class:`MemoryArchive` is node-local; the Redis one (redis_archive.py) is shared by the
cluster. Neither raises because a backend is unreachable: history is then empty and a retry
may be broadcast again (at-least-once, never lost).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from typing import Any, Protocol

MAX_REMEMBERED_SENDS = 100_000  # retry keys kept per node at most (oldest forgotten first)
MAX_ROOMS = 10_000  # rooms with history kept per node at most (least recently used forgotten)


class ChatArchive(Protocol):
    """Room history and retry deduplication, per namespace."""

    async def append(self, namespace: str, room: str, message: dict[str, Any]) -> None:
        """Keep ``message`` as the newest of ``room`` (only the newest ``limit`` are kept)."""

    async def recent(self, namespace: str, room: str, count: int) -> list[dict[str, Any]]:
        """Up to ``count`` of the newest messages of ``room``, oldest first."""

    async def accept_once(
        self, namespace: str, key: str, ack: dict[str, Any], seconds: float
    ) -> dict[str, Any] | None:
        """Record ``ack`` as the answer to the send ``key`` for ``seconds``; if ``key`` was
        already recorded, return that earlier answer instead (the send is a retry)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def problem(self) -> str | None: ...


class MemoryArchive:
    """:class:`ChatArchive` in this process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._rooms: OrderedDict[tuple[str, str], deque[dict[str, Any]]] = OrderedDict()
        self._sent: OrderedDict[tuple[str, str], tuple[dict[str, Any], float]] = OrderedDict()

    async def append(self, namespace: str, room: str, message: dict[str, Any]) -> None:
        if not self.limit:
            return
        key = (namespace, room)
        history = self._rooms.get(key)
        if history is None:
            history = self._rooms[key] = deque(maxlen=self.limit)
            if len(self._rooms) > MAX_ROOMS:
                self._rooms.popitem(last=False)
        else:
            self._rooms.move_to_end(key)
        history.append(message)

    async def recent(self, namespace: str, room: str, count: int) -> list[dict[str, Any]]:
        history = self._rooms.get((namespace, room), ())
        return list(history)[-count:] if count > 0 else []

    async def accept_once(
        self, namespace: str, key: str, ack: dict[str, Any], seconds: float
    ) -> dict[str, Any] | None:
        now = time.monotonic()
        while self._sent and next(iter(self._sent.values()))[1] <= now:
            self._sent.popitem(last=False)  # expired, oldest first (all share one lifetime)
        earlier = self._sent.get((namespace, key))
        if earlier is not None:
            return earlier[0]
        self._sent[(namespace, key)] = (ack, now + seconds)
        if len(self._sent) > MAX_REMEMBERED_SENDS:
            self._sent.popitem(last=False)
        return None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def problem(self) -> str | None:
        return None
