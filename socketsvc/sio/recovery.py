"""Connection-state recovery: a client that drops and comes back within a window gets its
session (same sid, rooms, session data) and every packet it missed, in order.

The protocol is socket.io 4.6+'s, which the stock JS client speaks: the CONNECT answer of a
namespace with recovery carries ``{sid, pid}`` (``pid`` is the private id of the session);
every packet the server stores for recovery carries its offset as its last argument; a client
that reconnects sends ``{pid, offset}`` (its last offset) merged into its auth. Packets with an
ack id and volatile packets are not stored, as in Node.

Beyond Node: a client that had not received any stored packet before it dropped (it has a pid
but no offset) is recovered from its session's start.

:class:`RecoveryLog` is what a node keeps; :class:`MemoryRecovery` is node-local (sessions
survive a dropped connection, not a node restart); the Redis one (scaleout/) is cluster-wide.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgpack

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
SWEEP_SECONDS = 5.0


@dataclass
class Session:
    """What is kept of a connection that dropped, to restore it."""

    pid: str
    sid: str
    namespace: str
    rooms: list[str] = field(default_factory=list)  # joined rooms, without the sid room
    data: Any = None  # the python-socketio session of the namespace (save_session)
    start: str | None = None  # the log position when the connection began
    # Claimed while its connection still counted as open (its node crashed, or has not yet
    # noticed that the connection is dead): that connection must be dropped first.
    live: bool = False


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
    if skip_sid is None:
        return frozenset()
    return frozenset([skip_sid]) if isinstance(skip_sid, str) else frozenset(skip_sid)


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


class RecoveryLog(Protocol):
    """Stored packets and dropped sessions, as the Socket.IO server uses them.

    ``claim`` hands a dropped session to exactly one reconnecting client; ``resumable`` says
    whether everything the client missed after its offset is still kept (otherwise it
    connects as new); ``missed`` lists it, oldest first, and is called inside ``holding()``,
    during which no stored packet reaches this node's clients (so nothing is delivered twice
    or skipped while a restored client joins its rooms). Nothing here raises because a
    backend is down: a recovery that cannot be answered is a fresh connect."""

    windows: Windows

    def new_pid(self) -> str:
        """A session's private id: unguessable, since it lets a connection take it over."""
        ...

    def head(self, namespace: str) -> str:
        """Where a session starting now begins in the namespace's log."""
        ...

    async def track(self, session: Session) -> None:
        """A live connection's session (at connect, and when its rooms change). Its client
        may claim it when it reconnects before the server noticed the old connection died,
        or after the node holding it crashed."""

    async def persist(self, session: Session) -> None:
        """The connection dropped: keep its session for the namespace's window (unless its
        client already claimed it elsewhere)."""

    async def forget(self, session: Session) -> None:
        """The connection left for good: nothing is kept."""

    async def claim(self, pid: str, namespace: str) -> Session | None: ...

    async def pending(self, pid: str) -> bool:
        """Whether a dropped session is still waiting for its client (kept, not claimed)."""
        ...

    async def resumable(self, session: Session, offset: str | None) -> bool: ...

    def holding(self) -> contextlib.AbstractAsyncContextManager[None]: ...

    async def missed(self, session: Session, offset: str | None) -> list[list[Any]]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def problem(self) -> str | None: ...


class Recorder(Protocol):
    """Where a node's own emits are stored in emit order (in memory: one node's log)."""

    windows: Windows

    def record(
        self, namespace: str, rooms: frozenset[str] | None, skip: frozenset[str], args: list[Any]
    ) -> str:
        """Store an emit's ``args``; return its offset, which recipients get as last argument."""
        ...

    def discard(self, namespace: str, offset: str) -> None:
        """Forget the packet ``record`` just stored (it could not be sent after all)."""


class MemoryRecovery:
    """:class:`RecoveryLog` in this process: bounded per namespace by ``max_packets`` and
    ``max_bytes`` and by age (the namespace's window); sessions expire after the window.

    Offsets are ``<epoch>-<n>``: ``n`` counts the namespace's stored packets, and the epoch
    is random per process, so an offset from before a restart never matches."""

    def __init__(self, windows: Windows, max_packets: int, max_bytes: int) -> None:
        self.windows = windows
        self.max_packets = max_packets
        self.max_bytes = max_bytes
        self._epoch = secrets.token_hex(4)
        self._seq: dict[str, int] = {}  # namespace -> the last n given out
        self._logs: dict[str, deque[Stored]] = {}  # n contiguous, oldest evicted first
        self._bytes: dict[str, int] = {}
        self._sessions: dict[str, tuple[Session, float]] = {}  # pid -> (session, expires)
        self._live: dict[str, Session] = {}  # pid -> session of a live connection
        self._sweeper: asyncio.TimerHandle | None = None

    # -- packets ------------------------------------------------------------------------------

    def record(
        self, namespace: str, rooms: frozenset[str] | None, skip: frozenset[str], args: list[Any]
    ) -> str:
        seq = self._seq[namespace] = self._seq.get(namespace, 0) + 1
        offset = f"{self._epoch}-{seq}"
        stored_args = [*args, offset]
        size = len(msgpack.packb(stored_args, default=repr))
        log = self._logs.get(namespace)
        if log is None:
            log = self._logs[namespace] = deque()
            self._bytes[namespace] = 0
        log.append(Stored(offset, rooms, skip, stored_args, size, time.monotonic()))
        self._bytes[namespace] += size
        self._trim(namespace, log)
        return offset

    def head(self, namespace: str) -> str:
        return f"{self._epoch}-{self._seq.get(namespace, 0)}"

    def new_pid(self) -> str:
        return new_pid()

    def discard(self, namespace: str, offset: str) -> None:
        log = self._logs.get(namespace)
        if log and log[-1].offset == offset:
            self._bytes[namespace] -= log.pop().size
            self._seq[namespace] -= 1
            if not log:
                del self._logs[namespace]
                del self._bytes[namespace]

    def _trim(self, namespace: str, log: deque[Stored]) -> None:
        oldest = time.monotonic() - self.windows(namespace)
        while log and (
            len(log) > self.max_packets
            or self._bytes[namespace] > self.max_bytes
            or log[0].at < oldest
        ):
            self._bytes[namespace] -= log.popleft().size
        if not log:
            del self._logs[namespace]
            del self._bytes[namespace]

    # -- sessions -----------------------------------------------------------------------------

    async def persist(self, session: Session) -> None:
        window = self.windows(session.namespace)
        if self._live.pop(session.pid, None) is not None and window > 0:
            self._sessions[session.pid] = (session, time.monotonic() + window)

    async def forget(self, session: Session) -> None:
        self._live.pop(session.pid, None)

    async def claim(self, pid: str, namespace: str) -> Session | None:
        kept = self._sessions.pop(pid, None)
        if kept is not None:
            session, expires = kept
            session.live = False
            fresh = session.namespace == namespace and time.monotonic() < expires
            return session if fresh else None
        live = self._live.get(pid)
        if live is None or live.namespace != namespace:
            return None
        del self._live[pid]
        live.live = True
        return live

    async def pending(self, pid: str) -> bool:
        kept = self._sessions.get(pid)
        return kept is not None and time.monotonic() < kept[1]

    async def track(self, session: Session) -> None:
        self._live[session.pid] = session

    @contextlib.asynccontextmanager
    async def holding(self) -> AsyncIterator[None]:
        yield  # one event loop: nothing is delivered while missed() runs anyway

    async def resumable(self, session: Session, offset: str | None) -> bool:
        return self._position(session, offset) is not None

    async def missed(self, session: Session, offset: str | None) -> list[list[Any]]:
        position = self._position(session, offset)
        if position is None:
            return []
        return [
            s.args
            for s in self._logs.get(session.namespace, ())
            if self._number(s) > position and s.wanted_by(session.sid, session.rooms)
        ]

    def _position(self, session: Session, offset: str | None) -> int | None:
        """The client's place in the log, if everything after it is still kept."""
        namespace = session.namespace
        epoch, _, number = (offset if offset is not None else session.start or "").partition("-")
        last = self._seq.get(namespace, 0)
        if epoch != self._epoch or not number.isdigit() or int(number) > last:
            return None
        log = self._logs.get(namespace)
        first = self._number(log[0]) if log else last + 1
        return int(number) if first <= int(number) + 1 else None  # else: evicted

    @staticmethod
    def _number(stored: Stored) -> int:
        return int(stored.offset.rpartition("-")[2])

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._schedule_sweep()

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    def problem(self) -> str | None:
        return None

    def _schedule_sweep(self) -> None:
        self._sweeper = asyncio.get_running_loop().call_later(SWEEP_SECONDS, self._sweep)

    def _sweep(self) -> None:
        """Drop expired sessions and packets older than their window, idle or not."""
        now = time.monotonic()
        for pid in [p for p, (_, expires) in self._sessions.items() if expires <= now]:
            del self._sessions[pid]
        for namespace, log in list(self._logs.items()):
            self._trim(namespace, log)
        with contextlib.suppress(RuntimeError):  # the loop is closing
            self._schedule_sweep()

    def state_size(self) -> int:
        return len(self._sessions) + len(self._live)
