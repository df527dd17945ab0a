"""Server→client events, declared on the handler class that emits them.

A declaration names an event and the type of its payload::

    class ChatNamespace(BaseNamespace):
        joined = ServerEvent[RoomMember](doc="someone joined a room you are in")

        async def on_join(self, sid: str, req: JoinRequest) -> JoinAck:
            ...
            await self.emit(self.joined, {"room": req.room, "name": name}, to=req.room)

``self.emit`` and ``self.call`` take a declaration where they take an event name, and mypy
then checks the payload against the declared type, a ``TypedDict`` literal key by key;
``socketsvc contract`` publishes every declaration.

The check is mypy's only: at run time a declaration stands for its name, and emitting through
one costs what emitting by name costs (one type test). Payloads are built by server code,
which mypy sees in full; checking them again on every emit would walk each payload for
nothing, and what no wire format carries is already refused by the encoders (logged once,
``internal``).
"""

from __future__ import annotations

import typing
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

from socketsvc.sio.once import Once

Payload = TypeVar("Payload")
Arguments = ParamSpec("Arguments")


class ServerEvent(Generic[Payload]):
    """One server→client event: its name (the attribute's name unless given) and, from the
    subscription ``ServerEvent[T]``, the type of its payload. A ``tuple`` payload arrives as
    several arguments and ``None`` as none, as with ``emit``."""

    def __init__(self, name: str | None = None, *, doc: str = "") -> None:
        self.name = name or ""
        self.doc = doc
        self.attr = ""

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr
        if not self.name:
            self.name = attr

    @property
    def payload(self) -> Any:
        """The declared payload type (``Any`` when the declaration was not subscripted);
        ``typing`` keeps the subscription on the instance as ``__orig_class__``."""
        declared = getattr(self, "__orig_class__", None)
        return typing.get_args(declared)[0] if declared is not None else Any

    def __repr__(self) -> str:
        return f"ServerEvent({self.name!r})"

    # For mypy only, never called: the arguments BaseNamespace.emit and .call take after this
    # event. Through a ParamSpec they are checked with the payload type already fixed, so a
    # dict literal is checked as the TypedDict it must be (a TypeVar shared by the event and
    # the data would be inferred from both and match neither).
    def emitting(
        self,
        data: Payload,
        to: Any = None,
        room: Any = None,
        skip_sid: Any = None,
        namespace: str | None = None,
        callback: Any = None,
        ignore_queue: bool = False,
        *,
        volatile: bool = False,
        once: Once | None = None,
    ) -> None:
        raise NotImplementedError

    def calling(self, data: Payload, *, to: str, timeout: float = 10.0) -> None:
        raise NotImplementedError


class Emits(Protocol[Arguments]):
    """What ``BaseNamespace.emit`` takes as a declared event: a :class:`ServerEvent`."""

    name: str

    def emitting(self, *args: Arguments.args, **kwargs: Arguments.kwargs) -> None: ...


class Calls(Protocol[Arguments]):
    """What ``BaseNamespace.call`` takes as a declared event: a :class:`ServerEvent`."""

    name: str

    def calling(self, *args: Arguments.args, **kwargs: Arguments.kwargs) -> None: ...
