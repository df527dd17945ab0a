"""A handler module that must fail to load: it exposes a reserved event name."""

from __future__ import annotations

from socketsvc.handlers import BaseNamespace, event


class Broken(BaseNamespace):
    @event("connect")
    async def sneaky(self, sid: str) -> None:
        return None
