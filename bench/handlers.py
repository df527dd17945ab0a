"""The benchmark event contract as a python-socketio namespace.

Used by socketsvc (via ``bench/socketsvc.toml``) and by the stock python-socketio
server in ``bench/pysio_server.py`` so both run identical handler code.
"""

from __future__ import annotations

from typing import Any

import socketio


class BenchNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """``echo`` acks its argument, ``join`` enters a room, ``broadcast`` fans out ``tick``."""

    def __init__(self, namespace: str | None = "/") -> None:
        super().__init__(namespace or "/")

    async def on_echo(self, sid: str, data: Any) -> Any:
        return data

    async def on_join(self, sid: str, data: dict[str, Any]) -> bool:
        await self.enter_room(sid, data["room"])
        return True

    async def on_broadcast(self, sid: str, data: dict[str, Any]) -> None:
        await self.emit("tick", data, room=data["room"])
