"""Presence and the chat archive shared by the workers of one machine (``--workers N``
without Redis): both are kept by the primary's hub (workers/stores.py), so ``members`` is the
whole machine's and history outlives a worker.

A worker's calls are answered in the order it made them (it reads its own writes); writes do
not wait for an answer. The members of a worker that dies leave with it.
"""

from __future__ import annotations

from typing import Any

from .client import HubClient


class LocalPresence:
    """:class:`~socketsvc.scaleout.presence.Presence` of the machine, kept by the hub."""

    def __init__(self, hub: HubClient) -> None:
        self.hub = hub

    async def add(self, namespace: str, room: str, sid: str, name: str) -> None:
        self.hub.cast("presence", "add", namespace, room, sid, name)

    async def remove(self, namespace: str, room: str, sid: str) -> str | None:
        name = await self.hub.call("presence", "remove", namespace, room, sid)
        return name if isinstance(name, str) else None

    async def name_of(self, namespace: str, room: str, sid: str) -> str | None:
        name = await self.hub.call("presence", "name_of", namespace, room, sid)
        return name if isinstance(name, str) else None

    async def members(self, namespace: str, room: str) -> list[str]:
        names = await self.hub.call("presence", "members", namespace, room, default=[])
        return list(names)

    async def has(self, namespace: str, room: str, sid: str) -> bool:
        return bool(await self.hub.call("presence", "has", namespace, room, sid, default=False))

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def problem(self) -> str | None:
        return None  # the manager reports the hub


class LocalArchive:
    """:class:`~socketsvc.scaleout.archive.ChatArchive` of the machine, kept by the hub."""

    def __init__(self, hub: HubClient) -> None:
        self.hub = hub

    async def append(self, namespace: str, room: str, message: dict[str, Any]) -> None:
        self.hub.cast("archive", "append", namespace, room, message)

    async def recent(self, namespace: str, room: str, count: int) -> list[dict[str, Any]]:
        found = await self.hub.call("archive", "recent", namespace, room, count, default=[])
        return list(found)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def problem(self) -> str | None:
        return None
