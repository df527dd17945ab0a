"""What the Admin UI needs from the other workers of a machine (``--workers N``): their
sockets, their feed, and the admin's actions carried out there too. The workers package
provides it (``ADMIN_RELAY``); a single node has none and shows its own clients only."""

from __future__ import annotations

from typing import Any, Protocol

from socketsvc.handlers.services import ServiceKey


class AdminView(Protocol):
    """The admin namespace of one worker, as the relay calls it."""

    def all_sockets(self) -> list[dict[str, Any]]:
        """This worker's clients, as ``all_sockets`` lists them."""
        ...

    def watched_elsewhere(self) -> None:
        """An admin on another worker watches: record and report as if one were here."""

    async def show(self, event: str, data: Any) -> None:
        """Another worker's feed event, for this worker's admins."""

    async def act(self, action: str, args: list[Any]) -> None:
        """Carry out an admin's action (join, leave, disconnect) on this worker's clients."""


class AdminRelay(Protocol):
    """The other workers of the machine, for the admin namespace."""

    def attach(self, view: AdminView) -> None: ...

    async def sockets(self) -> list[dict[str, Any]]:
        """Every other worker's clients (those that answered in time)."""
        ...

    def announce(self) -> None:
        """Admins are watching here: the others record and send their feed (renewed while
        they watch; it lapses when it is not)."""

    def watched(self) -> bool:
        """Whether an admin on another worker watches."""
        ...

    def forward(self, event: str, data: Any) -> None:
        """This worker's feed event, for the admins on the others."""

    def act(self, action: str, args: list[Any]) -> None:
        """An admin's action here, for the other workers' clients."""


ADMIN_RELAY: ServiceKey[AdminRelay] = ServiceKey("admin_relay")
