"""The handler module the ``--workers`` tests load: what a client needs to see which worker
serves it, and to exercise every path between workers."""

from __future__ import annotations

import os
from typing import Any

from socketsvc.handlers import BaseNamespace
from socketsvc.sio.once import Once


class MachineNamespace(BaseNamespace):
    """``/machine``: rooms, stored emits (a recovery window), calls and cluster requests
    across the workers of one machine."""

    recovery_window = 30.0

    async def on_where(self, sid: str) -> int:
        """The pid of the worker serving this client."""
        return os.getpid()

    async def on_enter(self, sid: str, room: str) -> bool:
        await self.join(sid, room)
        return True

    async def on_tell(self, sid: str, room: str, payload: Any) -> bool:
        """A stored emit (recovery) to a room, or to a sid."""
        await self.emit("news", payload, to=room)
        return True

    async def on_shout(self, sid: str, room: str, payload: Any) -> bool:
        """A volatile emit: through the bus, not the recovery log."""
        await self.emit("shout", payload, to=room, volatile=True)
        return True

    async def on_ask(self, sid: str, target: str) -> Any:
        """Call another client (on any worker) and return its ack."""
        return await self.call("question", {"from": sid}, to=target, timeout=5)

    async def on_count(self, sid: str, room: str) -> list[str]:
        """The sids of ``room`` on every worker (fetch_sockets)."""
        return sorted(record.id for record in await self.fetch_sockets(room))

    async def on_pids(self, sid: str) -> list[int]:
        """Every worker's pid, through a server-side call to the others."""
        answers = await self.server_side_call("pid")
        return sorted([os.getpid(), *(a["pid"] for a in answers)])

    async def on_say(self, sid: str, room: str, key: str) -> Any:
        """A stored emit made once per ``key`` (a retried send, as /chat's): the first one's
        answer for every retry, on any worker."""
        once = Once(key, {"first": sid, "pid": os.getpid()}, 30.0)
        await self.emit("said", key, to=room, once=once)
        return once.answer if once.earlier is None else once.earlier

    async def on_whoami(self, sid: str) -> dict[str, Any]:
        return {"sid": sid, "pid": self.door.session_pid(sid), "worker": os.getpid()}

    async def on_state(self, sid: str) -> dict[str, Any]:
        return {"sid": sid, "recovered": self.recovered(sid), "rooms": sorted(self.rooms_of(sid))}

    async def handle_server_event(self, event: str, *args: Any) -> Any:
        return {"pid": os.getpid()}
