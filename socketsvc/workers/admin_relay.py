"""The Admin UI across the workers of a machine: an admin connected to any worker sees every
worker's sockets and feed, and its actions reach every worker's clients (see
:mod:`socketsvc.admin.relay`). It all goes through the hub; a worker records and sends its
feed only while some admin watches (announced every stats tick, lapsing after three)."""

from __future__ import annotations

import time
from typing import Any

from socketsvc.admin.relay import AdminView
from socketsvc.errors import ClusterTimeout

from .client import HubClient

ASK_TIMEOUT = 2.0
LAPSE = 6.0  # seconds a watch announcement holds

SOCKETS, WATCH, EVENTS, ACTION = "admin_sockets", "admin_watch", "admin_events", "admin_action"


class HubAdminRelay:
    """:class:`~socketsvc.admin.relay.AdminRelay` through the machine's hub."""

    def __init__(self, hub: HubClient) -> None:
        self.hub = hub
        self.view: AdminView | None = None
        self._watched_until = 0.0

    def attach(self, view: AdminView) -> None:
        self.view = view
        self.hub.answerers[SOCKETS] = self._sockets
        self.hub.answerers[WATCH] = self._watch
        self.hub.answerers[EVENTS] = self._show
        self.hub.answerers[ACTION] = self._act

    async def sockets(self) -> list[dict[str, Any]]:
        try:
            answers = await self.hub.ask({"kind": SOCKETS}, "admin sockets", ASK_TIMEOUT)
        except ClusterTimeout as exc:
            answers = exc.partial
        return [s for answer in answers if isinstance(answer, list) for s in answer]

    def announce(self) -> None:
        self.hub.tell({"kind": WATCH})

    def watched(self) -> bool:
        return time.monotonic() < self._watched_until

    def forward(self, event: str, data: Any) -> None:
        if self.watched():
            self.hub.tell({"kind": EVENTS, "event": event, "data": data})

    def act(self, action: str, args: list[Any]) -> None:
        self.hub.tell({"kind": ACTION, "action": action, "args": args})

    # -- the others' requests -------------------------------------------------------------------

    async def _sockets(self, body: Any) -> list[dict[str, Any]]:
        return self.view.all_sockets() if self.view is not None else []

    async def _watch(self, body: Any) -> None:
        self._watched_until = time.monotonic() + LAPSE
        if self.view is not None:
            self.view.watched_elsewhere()

    async def _show(self, body: Any) -> None:
        if self.view is not None and isinstance(body.get("event"), str):
            await self.view.show(body["event"], body.get("data"))

    async def _act(self, body: Any) -> None:
        action, args = body.get("action"), body.get("args")
        if self.view is not None and isinstance(action, str) and isinstance(args, list):
            await self.view.act(action, args)
