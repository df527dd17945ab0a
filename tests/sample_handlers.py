"""Handler modules the tests load through the ``[namespaces]`` setting, as a deployment would."""

from __future__ import annotations

import asyncio
import builtins
import contextvars
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from socketio.exceptions import ConnectionRefusedError

from socketsvc.errors import SocketsvcError
from socketsvc.handlers import BaseNamespace, event


@dataclass(frozen=True)
class Point:
    x: int
    y: int
    label: str | None = None


class EchoNamespace(BaseNamespace):
    """Echoes, errors on demand and server-initiated calls, for exercising the dispatcher."""

    async def on_connect(self, sid: str, environ: Mapping[str, Any], auth: dict[str, Any]) -> Any:
        if auth.get("refuse"):
            raise ConnectionRefusedError("go away", {"code": "refused"})
        if auth.get("crash"):
            raise RuntimeError("connect handler bug")
        if auth.get("reject"):
            return False  # python-socketio's other way to refuse
        await self.save_session(sid, {"auth": auth})
        return None

    async def on_echo(self, sid: str, *args: Any) -> tuple[Any, ...]:
        return args

    @event("ack-echo")
    async def ack_echo(self, sid: str, data: Any) -> Any:
        return data

    async def on_auth(self, sid: str) -> Any:
        return (await self.get_session(sid))["auth"]

    async def on_whoami(self, sid: str) -> Any:
        identity = self.identity(sid)
        return None if identity is None else dict(identity.claims)

    async def on_point(self, sid: str, point: Point) -> dict[str, Any]:
        return {"sum": point.x + point.y, "label": point.label}

    async def on_boom(self, sid: str) -> None:
        raise RuntimeError("secret internals")

    async def on_refuse(self, sid: str) -> None:
        raise SocketsvcError("custom_code", "refused by the application")

    async def on_bytes(self, sid: str, blob: bytes) -> dict[str, Any]:
        return {"size": len(blob), "reversed": blob[::-1]}

    async def on_kick(self, sid: str) -> None:
        await self.disconnect(sid)

    async def on_ask(self, sid: str, timeout: float) -> Any:
        try:
            return {"answer": await self.call("question", {"q": 1}, to=sid, timeout=timeout)}
        except SocketsvcError as exc:
            return {"caught": exc.code, "message": exc.message}

    async def on_enter(self, sid: str, room: str) -> list[str]:
        await self.join(sid, room)
        return self.members(room)

    async def on_exit(self, sid: str, room: str) -> list[str]:
        await self.leave(sid, room)
        return self.rooms_of(sid)

    async def on_shout(
        self, sid: str, room: str | list[str], text: str, include_me: bool = False
    ) -> None:
        await self.emit("shout", {"text": text}, to=room, skip_sid=None if include_me else sid)

    async def on_note_then_shout(self, sid: str, room: str, text: str) -> None:
        """A message to the sender alone, then one to the whole room, in one turn."""
        await self.emit("note", text, to=sid)
        await self.emit("shout", {"text": text}, to=room)

    async def on_relay(self, sid: str, room: str, payload: Any) -> str:
        """Re-emit ``payload`` unchanged to the room: what crosses between wire formats."""
        await self.emit("relay", payload, to=room, skip_sid=sid)
        return "relayed"

    async def on_produce(self, sid: str, kind: str) -> Any:
        """Return values some wire formats cannot carry unchanged."""
        values: dict[str, Any] = {
            "big": 2**60,
            "max_safe": 2**53 - 1,
            "nan": float("nan"),
            "int_keys": {1: "one"},
            "huge": 2**70,
        }
        return values[kind]

    async def on_flood(self, sid: str, room: str, count: int, size: int) -> int:
        """Emit ``count`` numbered events of ``size`` bytes to the room, back to back."""
        filler = "x" * size
        for seq in range(count):
            await self.emit("flood", {"seq": seq, "filler": filler}, to=room)
        return count

    def helper_that_is_not_an_event(self) -> str:
        return "never dispatched"

    async def _private(self, sid: str) -> str:
        return "never dispatched"


class WorkspaceNamespace(BaseNamespace):
    """Served for every ``/workspace/<name>``; each instance knows its concrete namespace."""

    async def on_where(self, sid: str) -> str:
        return self.namespace


class SlowConnectNamespace(BaseNamespace):
    """A connect handler that really waits, as one that checks a database would."""

    async def on_connect(self, sid: str, environ: Mapping[str, Any], auth: dict[str, Any]) -> Any:
        await asyncio.sleep(0.05)
        return None

    async def on_echo(self, sid: str, *args: Any) -> tuple[Any, ...]:
        return args

    async def on_nap(self, sid: str, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "rested"


REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class TaskAwareNamespace(BaseNamespace):
    """Handlers written as any asyncio code is: each relies on running inside a task of its own.

    None of them awaits anything before the construct it exercises, so each runs its first
    statement exactly where the server starts it."""

    async def on_connect(self, sid: str, environ: Mapping[str, Any], auth: dict[str, Any]) -> Any:
        REQUEST_ID.set(f"connect-{sid}")  # must not reach the events of this connection
        if "refuse" in auth:
            raise builtins.ConnectionRefusedError(*auth["refuse"])
        return None

    async def on_timed(self, sid: str, value: Any) -> dict[str, Any]:
        async with asyncio.timeout(2):  # noqa: ASYNC100 - entering it is what is tested
            return {"in_task": asyncio.current_task() is not None, "value": value}

    async def on_ask(self, sid: str, question: Any) -> Any:
        return {"answer": await self.call("question", question, to=sid, timeout=3)}

    async def on_remember(self, sid: str, value: str) -> dict[str, str | None]:
        """Set the request id; answer what it was when this event started."""
        before = REQUEST_ID.get()
        REQUEST_ID.set(value)
        return {"before": before}

    async def on_recall(self, sid: str) -> dict[str, str | None]:
        return {"before": REQUEST_ID.get()}

    async def on_deadline(self, sid: str, seconds: float) -> str:
        """``asyncio.timeout`` cancelling a wait: only possible inside a task."""
        try:
            async with asyncio.timeout(seconds):
                await asyncio.sleep(10)
        except TimeoutError:
            return "timed out"
        return "slept"
