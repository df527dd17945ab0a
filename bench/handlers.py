"""The benchmark event contract, once as a socketsvc handler module and once as the plain
python-socketio namespace the stock server runs; the handler bodies are the same.

``echo`` acks its argument, ``join`` enters a room, ``broadcast`` fans out ``tick``.
"""

from __future__ import annotations

from typing import Any

import socketio

from socketsvc.handlers import BaseNamespace


class BenchNamespace(BaseNamespace):
    """socketsvc's side (loaded through ``bench/socketsvc.toml``)."""

    async def on_echo(self, sid: str, data: Any) -> Any:
        return data

    async def on_join(self, sid: str, data: dict[str, Any]) -> bool:
        await self.enter_room(sid, data["room"])
        return True

    async def on_broadcast(self, sid: str, data: dict[str, Any]) -> None:
        await self.emit("tick", data, room=data["room"])


class StockBenchNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Stock python-socketio's side (``bench/pysio_server.py``)."""

    on_echo = BenchNamespace.on_echo
    on_join = BenchNamespace.on_join
    on_broadcast = BenchNamespace.on_broadcast
