"""Connection-state recovery: a client that drops and comes back within a window gets its
session (same sid, rooms, session data) and every packet it missed, in order, none twice.

The protocol is socket.io 4.6+'s, which the stock JS client speaks: the CONNECT answer of a
namespace with recovery carries ``{sid, pid}`` (``pid`` is the private id of the session);
every packet the server stores for recovery carries its offset as its last argument; a client
that reconnects sends ``{pid, offset}`` (its last offset) merged into its auth. Packets with an
ack id and volatile packets are not stored, as in Node. Beyond Node: a client with a pid but
no offset (it had received nothing stored) is recovered from its session's start.

This module is what the Socket.IO server needs of recovery: :class:`RecoveryLog` (what a node
keeps) and :class:`Recorder` (where emits are stored), the values they exchange, and the rules
all backends share. The backends implement them: in scaleout/, ``recovery.py``'s
``MemoryRecovery`` (node-local: sessions survive a dropped connection, not a node restart)
beside ``redis_recovery.py``'s ``RedisRecovery`` (cluster-wide), picked by ``backends.py``;
``workers/local_recovery.py`` for the workers of one machine.

A session is held by one connection at a time, from its connect (or the reconnect that
claims it, in one atomic step) until it drops and keeps the session for the window. A log
changes a live session only for its holder: a connection that drops after a reconnect claimed
its session cannot undo the claim, and one that drops at any step of a restore leaves the
session claimable. A client ends recovered, or (past the window) fresh, never fresh inside it.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from socketsvc.config import Settings

# The reason handlers get when a client leaves a namespace on purpose (its DISCONNECT packet),
# in Node's words; the session is not kept then.
NAMESPACE_LEFT = "client namespace disconnect"
# Disconnect reasons after which a session is kept: the client did not leave the namespace on
# purpose (its transport broke or was closed under it, or the server closed it: a slow
# consumer, or a node shutting down).
RECOVERABLE = frozenset(
    {"transport close", "transport error", "ping timeout", "server disconnect", "client disconnect"}
)
REPLAY_SLICE = 100  # missed packets read and sent per step of a restore, between yields


@dataclass
class Session:
    """What is kept of a connection that dropped, to restore it."""

    pid: str
    sid: str
    namespace: str
    rooms: list[str] = field(default_factory=list)  # joined rooms, without the sid room
    data: Any = None  # the python-socketio session of the namespace (save_session)
    start: str | None = None  # the log position when the connection began
    holder: str = ""  # the connection that holds it (its Engine.IO sid)
    # Claimed from a connection that may still be open (its node crashed, or has not noticed
    # yet): that connection, which must be dropped first.
    previous: str = ""


@dataclass(frozen=True)
class Stored:
    """One packet kept for recovery: the event arguments (offset last) and who got it."""

    offset: str
    rooms: frozenset[str] | None  # None: every client of the namespace
    skip: frozenset[str]  # sids left out
    args: list[Any]
    size: int
    at: float

    def wanted_by(self, sid: str, rooms: Iterable[str]) -> bool:
        """Whether a client in ``rooms`` (and its sid room) received this packet."""
        if sid in self.skip:
            return False
        return self.rooms is None or sid in self.rooms or any(r in self.rooms for r in rooms)


def new_pid() -> str:
    """A session's private id: unguessable, since it lets a connection take the session over."""
    return secrets.token_urlsafe(18)


def target(room: Any) -> frozenset[str] | None:
    """The rooms an emit addressed: None for the whole namespace."""
    if room is None:
        return None
    return frozenset([room]) if isinstance(room, str) else frozenset(room)


def skipped(skip_sid: Any) -> frozenset[str]:
    """The sids an emit left out."""
    return frozenset([skip_sid] if isinstance(skip_sid, str) else skip_sid or ())


class Windows:
    """How long each namespace keeps sessions and packets (seconds; 0 = no recovery).

    ``[namespace_recovery]`` in the settings wins (exact namespace, then a ``/prefix/*``
    pattern), then the handler class's ``recovery_window``, then ``recovery_window``."""

    def __init__(self, settings: Settings, class_windows: Callable[[str], float | None]) -> None:
        self.default = settings.recovery_window
        self.table = dict(settings.namespace_recovery)
        self.class_windows = class_windows
        self._cache: dict[str, float] = {}

    def __call__(self, namespace: str) -> float:
        window = self._cache.get(namespace)
        if window is None:
            window = self._cache[namespace] = self._lookup(namespace)
        return window

    def _lookup(self, namespace: str) -> float:
        if namespace in self.table:
            return self.table[namespace]
        for pattern, seconds in self.table.items():
            if pattern.endswith("/*"):
                rest = namespace[len(pattern) - 1 :]
                if namespace.startswith(pattern[:-1]) and rest and "/" not in rest:
                    return seconds
        from_class = self.class_windows(namespace)
        return self.default if from_class is None else from_class


class Checkpoints:
    """Steps of the recovery flows where a test can act (drop the client, reconnect it
    elsewhere) before the flow goes on; a null object, which tests replace on a log."""

    async def reached(self, point: str, pid: str) -> None:
        """Session ``pid``'s flow is at ``point``: ``claim``, ``persist`` (in the log, before
        that step), ``claimed``, ``connected``, ``replaying``, ``restored`` (sessions.py)."""


class Unavailable(Exception):
    """The log could not be read (its backend went down): a restore cannot complete."""


class RecoveryLog(Protocol):
    """Stored packets and dropped sessions, as the Socket.IO server uses them.

    ``claim`` hands a session to one connection, atomically; from then on it holds it
    (``Session.holder``). ``resumable`` says whether all the client missed is still kept
    (else it connects as new); ``missed`` lists it. Only ``missed`` raises when the backend
    is down (:class:`Unavailable`): a recovery that cannot be answered is a fresh connect."""

    windows: Windows
    checkpoints: Checkpoints

    def head(self, namespace: str) -> str:
        """Where this node's delivery of the namespace's log stands: every stored packet up
        to it has been handed to this node's clients, none after it."""
        ...

    async def track(self, session: Session) -> None:
        """A live connection's session (at connect, and as its rooms change), while its
        holder holds it: claimable before the old connection is noticed dead, or its node
        crashed."""

    async def persist(self, session: Session) -> None:
        """Its connection dropped: keep the session for the namespace's window, unless
        another connection holds it by now."""

    async def forget(self, session: Session) -> None:
        """Its connection left for good: nothing is kept (unless another one holds it)."""

    async def claim(self, pid: str, namespace: str, holder: str) -> Session | None:
        """The session ``pid`` of ``namespace``, kept or live, now held by ``holder``."""
        ...

    async def pending(self, namespace: str, pid: str) -> bool:
        """Whether session ``pid`` is kept as dropped, waiting for its client."""
        ...

    async def resumable(self, session: Session, offset: str | None) -> bool: ...

    def missed(
        self, session: Session, offset: str | None, upto: str
    ) -> AsyncGenerator[list[list[Any]], None]:
        """What the client missed after ``offset`` (else the session's start) up to ``upto``
        (a :meth:`head`), that it was meant to receive: event arguments, offset last, in
        slices of at most :data:`REPLAY_SLICE`, oldest first."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def problem(self) -> str | None: ...


class Recorder(Protocol):
    """Where a node's own emits are stored in emit order (in memory: one node's log)."""

    windows: Windows

    def record(
        self, namespace: str, rooms: frozenset[str] | None, skip: frozenset[str], args: list[Any]
    ) -> str:
        """Store an emit's ``args``; return its offset, which recipients get as last argument.
        Raises ``UnsupportedValue`` or ``Unencodable`` (socketsvc.errors) for a value nodes
        could not exchange through Redis, storing nothing."""
        ...
