"""What the Socket.IO layer needs from a namespace handler, defined here so that sio/ does not
import handlers/ (the layer above it): :class:`socketsvc.handlers.BaseNamespace` is the one
implementation, and mypy checks it against these protocols where the app wires them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from .door import NodeDoor

# The lifecycle hooks the server starts a task for only when a handler class defines its own
# (the base class's do nothing): most classes define few, and a task costs a connection.
HOOKS = ("on_connect", "after_connect", "on_disconnect")


class Handler(Protocol):
    """One namespace's handler instance, as the server calls it. The ``[namespaces]`` table
    names classes (``type[Handler]``): one instance per concrete namespace, made with the
    node's services (opaque to this layer)."""

    namespace: str
    keep_when_empty: ClassVar[bool]
    """Pattern namespaces: keep the instance after its last client left."""
    recovery_window: ClassVar[float | None]
    own_hooks: ClassVar[frozenset[str]]
    """Which of :data:`HOOKS` the class defines (a ``trigger_event`` of its own counts as
    ``on_connect`` and ``on_disconnect``: it may answer them)."""

    def __init__(self, namespace: str, services: Any) -> None: ...

    def bind(self, door: NodeDoor) -> None:
        """Before it serves: the node's front door, its only way to the node."""
        ...

    def resolve(
        self, event: str, args: Sequence[Any]
    ) -> tuple[Callable[..., Awaitable[Any]], Sequence[Any]]:
        """The function for ``event`` and its parsed arguments; raises ``SocketsvcError``."""
        ...

    def failure(self, exc: Exception, event: str, sid: str) -> dict[str, Any]:
        """The error ack for what handling ``event`` raised."""
        ...

    def report_bug(self, event: str, cause: str, text: str, sid: str) -> None: ...

    async def trigger_event(self, event: str, *args: Any) -> Any: ...

    async def after_connect(self, sid: str) -> None: ...

    def rooms_of(self, sid: str) -> list[str]: ...

    async def can_join(self, sid: str, room: str) -> bool: ...

    async def on_room_revoked(self, sid: str, room: str) -> None: ...

    async def on_release(self) -> None: ...

    async def dispatch_server_event(self, event: str, args: list[Any]) -> Any: ...
