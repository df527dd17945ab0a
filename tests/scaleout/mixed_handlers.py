"""The socketsvc side of the mixed-cluster tests: a namespace whose events drive the cluster
operations of the handler API (fetch_sockets, server-side events) and that answers other
nodes' server-side events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from socketsvc.handlers import BaseNamespace

NAMESPACES = {"/mixed": "tests.scaleout.mixed_handlers:MixedNamespace"}


class MixedNamespace(BaseNamespace):
    received: list[tuple[str, str, list[Any]]] = []

    async def on_connect(self, sid: str, environ: Mapping[str, Any], auth: dict[str, Any]) -> None:
        if self.recovered(sid):  # its session data is back already (as in Node's handlers)
            return
        await self.server.save_session(
            sid, {"from": "socketsvc", "name": auth.get("name")}, namespace=self.namespace
        )

    async def on_enter(self, sid: str, room: str) -> bool:
        await self.join(sid, room)
        return True

    async def on_leave(self, sid: str, room: str) -> bool:
        await self.leave(sid, room)
        return True

    async def on_state(self, sid: str) -> dict[str, Any]:
        return {"id": sid, "rooms": self.rooms_of(sid), "recovered": self.recovered(sid)}

    async def on_fetch(self, sid: str, room: str | None, except_room: str | None) -> list[Any]:
        sockets = await self.fetch_sockets(room, except_rooms=except_room or ())
        return [{"id": s.id, "rooms": sorted(s.rooms), "data": s.data} for s in sockets]

    async def on_tell(self, sid: str, event: str, *args: Any) -> bool:
        await self.server_side_emit(event, *args)
        return True

    async def on_ask(self, sid: str, event: str, *args: Any) -> list[Any]:
        return await self.server_side_call(event, *args, timeout=3.0)

    async def on_shout(self, sid: str, room: str, event: str, payload: Any) -> bool:
        await self.emit(event, payload, to=room)
        return True

    async def handle_server_event(self, event: str, *args: Any) -> Any:
        if event == "unknown":
            return await super().handle_server_event(event, *args)
        type(self).received.append((self.namespace, event, list(args)))
        return {"node": "socketsvc", "event": event, "args": list(args)}
