"""Handler modules the tests load through the ``[namespaces]`` setting, as a deployment would."""

from __future__ import annotations

import asyncio
import builtins
import contextvars
import enum
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from annotated_types import Ge, Le
from socketio.exceptions import ConnectionRefusedError

from socketsvc.errors import SocketsvcError
from socketsvc.handlers import BaseNamespace, Length, ServiceKey, Services, event


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

    async def on_expires(self, sid: str) -> int | None:
        identity = self.identity(sid)
        return None if identity is None else identity.expires

    async def on_point(self, sid: str, point: Point) -> dict[str, Any]:
        return {"sum": point.x + point.y, "label": point.label}

    async def on_tag(self, sid: str, tag: Annotated[str, Length(1, 16)]) -> str:
        return tag

    async def on_boom(self, sid: str) -> None:
        raise RuntimeError("secret internals")

    async def on_refuse(self, sid: str) -> None:
        raise SocketsvcError("custom_code", "refused by the application")

    async def on_fail_with(self, sid: str, code: str) -> None:
        raise SocketsvcError(code, "refused with the code asked for")

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


GATES: dict[str, tuple[asyncio.Event, asyncio.Event]] = {}
"""A test's gates for GatedConnectNamespace: name -> (entered, opened)."""


class GatedConnectNamespace(BaseNamespace):
    """A connect handler that waits until the test opens its gate (``auth["gate"]``), as one
    held up by a slow database would: the transport is handling that packet meanwhile."""

    async def on_connect(self, sid: str, environ: Mapping[str, Any], auth: dict[str, Any]) -> Any:
        entered, opened = GATES[auth["gate"]]
        entered.set()
        await opened.wait()
        return None


class GatedDisconnectNamespace(BaseNamespace):
    """A disconnect handler that waits until the test opens the gate the client named in its
    auth: its session stays closing (not yet closed) meanwhile."""

    async def on_connect(self, sid: str, environ: Mapping[str, Any], auth: dict[str, Any]) -> Any:
        await self.save_session(sid, {"gate": auth["gate"]})
        return None

    async def on_disconnect(self, sid: str, reason: str) -> None:
        entered, opened = GATES[(await self.get_session(sid))["gate"]]
        entered.set()
        await opened.wait()


REASONS: dict[str, str] = {}
"""Why each client of ReasonsNamespace left (sid -> reason), as its handler was told."""


class ReasonsNamespace(BaseNamespace):
    """Records the reason each client's disconnect handler is given."""

    async def on_disconnect(self, sid: str, reason: str) -> None:
        REASONS[sid] = reason


class FarewellNamespace(BaseNamespace):
    """Says goodbye to a client as it leaves: too late when its session is closing."""

    async def on_disconnect(self, sid: str, reason: str) -> None:
        await self.emit("bye", reason, to=sid)


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


class RecoveringNamespace(BaseNamespace):
    """A namespace with connection-state recovery, for tests/sio/test_recovery.py."""

    recovery_window = 30.0

    def __init__(self, namespace: str, services: Any) -> None:
        super().__init__(namespace, services)
        self.connect_auth: dict[str, Any] = {}  # by sid: the auth its on_connect saw last

    async def on_enter(self, sid: str, room: str) -> bool:
        await self.join(sid, room)
        return True

    async def on_tell(self, sid: str, room: str, payload: Any) -> bool:
        """A stored emit to a room (or a sid: a sid is a room of one)."""
        await self.emit("news", payload, to=room)
        return True

    async def on_tell_others(self, sid: str, room: str, payload: Any) -> bool:
        await self.emit("news", payload, to=room, skip_sid=sid)
        return True

    async def on_flash(self, sid: str, room: str, payload: Any) -> bool:
        """A volatile emit: never stored for recovery."""
        await self.emit("news", payload, to=room, volatile=True)
        return True

    async def on_poll(self, sid: str, target: str, payload: Any) -> bool:
        """An emit that asks for an ack: never stored for recovery."""
        await self.emit("news", payload, to=target, callback=lambda *answer: None)
        return True

    async def on_keep(self, sid: str, value: Any) -> bool:
        await self.save_session(sid, {"kept": value})
        return True

    async def on_state(self, sid: str) -> dict[str, Any]:
        session = await self.get_session(sid)  # a dict, as python-socketio gives it: {} at first
        return {
            "sid": sid,
            "recovered": self.recovered(sid),
            "rooms": sorted(self.rooms_of(sid)),
            "kept": session.get("kept"),
        }

    async def on_whoami(self, sid: str) -> dict[str, Any]:
        """What only the server knows: the session's pid, and the auth on_connect was given."""
        return {"sid": sid, "pid": self.server.session_pid(sid), "auth": self.connect_auth[sid]}

    async def on_connect(self, sid: str, environ: Any, auth: dict[str, Any]) -> Any:
        self.connect_auth[sid] = auth
        return await super().on_connect(sid, environ, auth)

    async def on_disconnect(self, sid: str, reason: str) -> None:
        """Waits for the test's gate for ``sid``, if it set one: a disconnect handler that
        takes time (a database write, presence in Redis), during which python-socketio has
        the connection pending its disconnect."""
        gate = DISCONNECT_GATES.get(sid)
        if gate is not None:
            gate.entered.set()
            await gate.open.wait()


@dataclass
class Gate:
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    open: asyncio.Event = field(default_factory=asyncio.Event)


DISCONNECT_GATES: dict[str, Gate] = {}  # by sid: RecoveringNamespace.on_disconnect waits


# -- state, services and lifecycle ----------------------------------------------------------

BOARDS: ServiceKey[dict[str, list[Any]]] = ServiceKey("boards", dict)
LIFESPAN_EVENTS: list[str] = []  # what BoardNamespace.lifespan did, in order


@dataclass(frozen=True)
class Stroke:
    x: Annotated[int, Ge(0), Le(4096)]
    y: Annotated[int, Ge(0), Le(4096)]
    colour: Literal["red", "green", "blue"] = "red"


class BoardNamespace(BaseNamespace):
    """A whiteboard per ``/board/<name>``: strokes live in the instance while anyone is
    connected, and in the ``boards`` service (from the lifespan hook) in between."""

    @classmethod
    async def lifespan(cls, services: Services) -> AsyncIterator[None]:
        services.provide(BOARDS, {})
        LIFESPAN_EVENTS.append("started")
        yield
        LIFESPAN_EVENTS.append(f"stopped with {sorted(services[BOARDS])}")
        services.withdraw(BOARDS)

    def __init__(self, namespace: str, services: Services) -> None:
        super().__init__(namespace, services)
        self.strokes: list[Any] = list(services[BOARDS].get(namespace, []))

    async def after_connect(self, sid: str) -> None:
        await self.emit("state", {"strokes": self.strokes}, to=sid)

    async def on_stroke(self, sid: str, stroke: Stroke) -> int:
        self.strokes.append(stroke)
        return len(self.strokes)

    async def on_release(self) -> None:
        self.services[BOARDS][self.namespace] = list(self.strokes)


class KeptNamespace(BaseNamespace):
    """A pattern namespace whose instances outlive their clients."""

    keep_when_empty = True
    released: ClassVar[list[str]] = []

    def __init__(self, namespace: str, services: Services) -> None:
        super().__init__(namespace, services)
        self.value: Any = None

    async def on_put(self, sid: str, value: Any) -> None:
        self.value = value

    async def on_get(self, sid: str) -> Any:
        return self.value

    async def on_release(self) -> None:
        self.released.append(self.namespace)


class FragileNamespace(BaseNamespace):
    """A pattern namespace whose constructor fails for some names."""

    def __init__(self, namespace: str, services: Services) -> None:
        if namespace.endswith("/bad"):
            raise RuntimeError("cannot open this one")
        super().__init__(namespace, services)

    async def on_ping(self, sid: str) -> str:
        return "pong"


class HandshakeNamespace(BaseNamespace):
    """Reports what ``self.handshake(sid)`` says, from after_connect and from an event."""

    async def on_connect(self, sid: str, environ: Mapping[str, Any], auth: dict[str, Any]) -> Any:
        await self.save_session(sid, {"remote_addr": environ["REMOTE_ADDR"]})
        return None

    def _describe(self, sid: str) -> dict[str, Any]:
        handshake = self.handshake(sid)
        return {
            "custom": handshake.headers.get("x-custom"),
            "room": handshake.query.get("room"),
            "transport": handshake.query.get("transport"),
            "auth": dict(handshake.auth),
            "address": handshake.address,
            "secure": handshake.secure,
            "url": handshake.url.split("?")[0],
            "issued": handshake.issued,
        }

    async def after_connect(self, sid: str) -> None:
        session = await self.get_session(sid)
        await self.emit("handshake", {**self._describe(sid), **session}, to=sid)

    async def on_handshake(self, sid: str) -> dict[str, Any]:
        return self._describe(sid)


@dataclass
class Cell:
    row: int
    col: int
    blob: bytes = b""


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Pair(enum.Enum):
    ORIGIN = (0, 0)


ENUMS_AND_UUID = {
    "color": Color.RED,
    "level": Level.HIGH,
    "pair": Pair.ORIGIN,
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "list": [Color.RED, Cell(1, 2)],
}


class ReturnsNamespace(BaseNamespace):
    """Return values and emits of every kind a handler author might try."""

    async def on_dataclass(self, sid: str) -> Cell:
        return Cell(1, 2)

    async def on_nested(self, sid: str) -> dict[str, Any]:
        return {"cells": [Cell(1, 2, b"\x00\xff"), Cell(3, 4)], "first": Cell(0, 0)}

    async def on_several(self, sid: str) -> tuple[Any, ...]:
        return ("a", Cell(5, 6))

    async def on_nothing(self, sid: str) -> None:
        return None

    async def on_a_set(self, sid: str) -> Any:
        return {"tags": {"x", "y"}}

    async def on_an_object(self, sid: str) -> Any:
        return object()

    async def on_either(self, sid: str, kind: str) -> Any:
        """The same event returning one unsendable type or another: two causes."""
        return {"tags": {"x"}} if kind == "set" else object()

    async def on_emit_set(self, sid: str) -> str:
        await self.emit("tags", {"tags": {"x"}}, to=sid)
        return "emitted"

    async def on_emit_cell(self, sid: str) -> str:
        await self.emit("cell", Cell(7, 8), to=sid)
        return "emitted"

    async def on_enums(self, sid: str) -> dict[str, Any]:
        """Enum members of every kind, and a UUID, as a handler may hold them."""
        return ENUMS_AND_UUID

    async def on_emit_enums(self, sid: str) -> str:
        await self.emit("enums", ENUMS_AND_UUID, to=sid)
        return "emitted"
