"""What ``/chat`` remembers beyond the live connections: each room's recent messages (history
for members who join or come back). A retried send is recognised by the emit itself
(sio/once.py), where it can be one step with storing the message.

:class:`MemoryArchive` is node-local; the Redis one (redis_archive.py) is shared by the
cluster. Neither raises because a backend is unreachable: history is then empty.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any, Protocol

MAX_ROOMS = 10_000  # rooms with history kept per node at most (least recently used forgotten)


class ChatArchive(Protocol):
    """Room history, per namespace."""

    async def append(self, namespace: str, room: str, message: dict[str, Any]) -> None:
        """Keep ``message`` as the newest of ``room`` (only the newest ``limit`` are kept)."""

    async def recent(self, namespace: str, room: str, count: int) -> list[dict[str, Any]]:
        """Up to ``count`` of the newest messages of ``room``, oldest first."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def problem(self) -> str | None: ...


class MemoryArchive:
    """:class:`ChatArchive` in this process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._rooms: OrderedDict[tuple[str, str], deque[dict[str, Any]]] = OrderedDict()

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

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def problem(self) -> str | None:
        return None
