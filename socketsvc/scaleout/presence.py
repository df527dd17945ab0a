"""Who is in a room, by display name.

The room table of the manager knows sids; people want names. :class:`Presence` keeps the name
each client chose per room. :class:`MemoryPresence` is node-local, which is exact on a single
node; a cluster-wide implementation follows the same protocol.
"""

from __future__ import annotations

from typing import Protocol


class Presence(Protocol):
    """Room membership by name. Calls for one sid arrive in order; ``members`` is a snapshot.

    ``add``/``remove``/``name_of`` are called by the node the sid is connected to.
    ``members`` is cluster-wide for a shared backend (possibly briefly stale), node-local for
    :class:`MemoryPresence`. No method raises because a backend is unreachable: it answers
    from what this node knows instead.
    """

    async def add(self, namespace: str, room: str, sid: str, name: str) -> None:
        """Record that ``sid`` is in ``room`` as ``name`` (replacing an earlier name)."""

    async def remove(self, namespace: str, room: str, sid: str) -> str | None:
        """Forget ``sid`` in ``room``; returns the name it had, or None if it was not there."""

    async def name_of(self, namespace: str, room: str, sid: str) -> str | None:
        """The name ``sid`` uses in ``room``, or None when it has not joined."""

    async def members(self, namespace: str, room: str) -> list[str]:
        """Names present in ``room``, in joining order."""

    async def has(self, namespace: str, room: str, sid: str) -> bool:
        """Whether ``sid`` is in ``room`` on any node (this one included)."""

    async def start(self) -> None:
        """Begin background work (before the node serves)."""

    async def stop(self) -> None:
        """End background work and leave cleanly (after the node stopped serving)."""

    def problem(self) -> str | None:
        """Why the backend cannot serve right now (for ``/readyz``); None when it can."""


class MemoryPresence:
    """Presence held in this process; empty rooms are dropped so memory follows live rooms."""

    def __init__(self) -> None:
        self._rooms: dict[tuple[str, str], dict[str, str]] = {}

    async def add(self, namespace: str, room: str, sid: str, name: str) -> None:
        self._rooms.setdefault((namespace, room), {})[sid] = name

    async def remove(self, namespace: str, room: str, sid: str) -> str | None:
        names = self._rooms.get((namespace, room))
        if names is None:
            return None
        name = names.pop(sid, None)
        if not names:
            del self._rooms[(namespace, room)]
        return name

    async def name_of(self, namespace: str, room: str, sid: str) -> str | None:
        return self._rooms.get((namespace, room), {}).get(sid)

    async def members(self, namespace: str, room: str) -> list[str]:
        return list(self._rooms.get((namespace, room), {}).values())

    async def has(self, namespace: str, room: str, sid: str) -> bool:
        return sid in self._rooms.get((namespace, room), {})

    def room_count(self) -> int:
        return len(self._rooms)

    # Nothing runs in the background and nothing can be unreachable: a null lifecycle.
    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def problem(self) -> str | None:
        return None
