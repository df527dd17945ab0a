"""The handler module the protocol suite loads into socketsvc; mirrors node_server.mjs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from socketsvc.handlers import BaseNamespace, event


class MirrorNamespace(BaseNamespace):
    """Echo events the way the socket.io-protocol test-suite's reference server does."""

    async def on_connect(self, sid: str, environ: Mapping[str, Any], auth: dict[str, Any]) -> None:
        await self.save_session(sid, {"auth": auth})

    async def after_connect(self, sid: str) -> None:
        await self.emit("auth", (await self.get_session(sid))["auth"], to=sid)

    async def on_message(self, sid: str, *args: Any) -> None:
        await self.emit("message-back", args, to=sid)

    @event("ack-echo")
    async def ack_echo(self, sid: str, *args: Any) -> tuple[Any, ...]:
        return args

    async def on_burst(self, sid: str, count: int) -> None:
        for i in range(count):
            await self.emit("burst", i, to=sid)

    @event("disconnect-me")
    async def disconnect_me(self, sid: str) -> None:
        await self.disconnect(sid)

    @event("force-close")
    async def force_close(self, sid: str) -> None:
        eio_sid = self.server.manager.eio_sid_from_sid(sid, self.namespace)
        await self.disconnect(sid)
        await self.server.eio.disconnect(eio_sid)
