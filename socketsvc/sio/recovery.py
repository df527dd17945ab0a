"""Connection-state recovery: a client that drops and comes back within a window gets its
session (same sid, rooms, session data) and every packet it missed, in order, none twice.

The protocol is socket.io 4.6+'s, which the stock JS client speaks: the CONNECT answer of a
namespace with recovery carries ``{sid, pid}`` (``pid`` is the private id of the session);
every packet the server stores for recovery carries its offset as its last argument; a client
that reconnects sends ``{pid, offset}`` (its last offset) merged into its auth. Packets with an
ack id and volatile packets are not stored, as in Node. Beyond Node: a client with a pid but
no offset (it had received nothing stored) is recovered from its session's start.

:class:`RecoveryLog` is what a node keeps; :class:`MemoryRecovery` is node-local (sessions
survive a dropped connection, not a node restart); the Redis one (scaleout/) is cluster-wide.

A session is held by one connection at a time, from its connect (or the reconnect that
claims it, in one atomic step) until it drops and keeps the session for the window. A log
changes a live session only for its holder: a connection that drops after a reconnect claimed
its session cannot undo the claim, and one that drops at any step of a restore leaves the
session claimable. A client ends recovered, or (past the window) fresh, never fresh inside it.

Both backends pack what they keep as nodes exchange it through Redis, so both refuse the same
values (a type no wire format carries, an integer past 64 bits, nesting past 1024 levels).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgpack

from socketsvc.config import Settings
from socketsvc.errors import Unencodable
from socketsvc.protocol.values import fields_of, unsupported_value

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


_PACKER = msgpack.Packer(  # scaleout/bus.py's: what nodes exchange through Redis
    use_bin_type=True, unicode_errors="surrogatepass", autoreset=True, default=fields_of
)


def packed_size(value: Any) -> int:
    """The bytes ``value`` takes in a log. Raises :class:`UnsupportedValue` for a type no wire
    format carries and :class:`Unencodable` for what msgpack cannot hold (as the bus does)."""
    try:
        return len(_PACKER.pack(value))
    except TypeError as exc:
        _PACKER.reset()
        raise unsupported_value(value, exc) from None
    except (OverflowError, ValueError) as exc:
        _PACKER.reset()
        raise Unencodable.from_exception("recovering", exc) from None


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
        Raises as :func:`packed_size` does, storing nothing."""
        ...


class MemoryRecovery:
    """:class:`RecoveryLog` in this process: bounded per namespace by ``max_packets`` and
    ``max_bytes`` and by age (the namespace's window); sessions expire after the window.

    Offsets are ``<epoch>-<n>``: ``n`` counts the namespace's stored packets, and the epoch
    is random per process, so an offset from before a restart never matches."""

    def __init__(
        self,
        windows: Windows,
        max_packets: int,
        max_bytes: int,
        checkpoints: Checkpoints | None = None,
    ) -> None:
        self.windows = windows
        self.max_packets = max_packets
        self.max_bytes = max_bytes
        self.checkpoints = checkpoints or Checkpoints()
        self._epoch = secrets.token_hex(4)
        self._seq: dict[str, int] = {}  # namespace -> the last n given out
        self._logs: dict[str, deque[Stored]] = {}  # n contiguous, oldest evicted first
        self._bytes: dict[str, int] = {}
        # By (namespace, pid): dropped sessions (with their expiry), and live ones.
        self._sessions: dict[tuple[str, str], tuple[Session, float]] = {}
        self._live: dict[tuple[str, str], Session] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    # -- packets ------------------------------------------------------------------------------

    def record(
        self, namespace: str, rooms: frozenset[str] | None, skip: frozenset[str], args: list[Any]
    ) -> str:
        seq = self._seq.get(namespace, 0) + 1
        offset = f"{self._epoch}-{seq}"
        stored_args = [*args, offset]
        size = packed_size(stored_args)
        self._seq[namespace] = seq
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

    def _holds(self, session: Session) -> bool:
        live = self._live.get((session.namespace, session.pid))
        return live is not None and live.holder == session.holder

    async def persist(self, session: Session) -> None:
        await self.checkpoints.reached("persist", session.pid)
        if self._holds(session):
            key = (session.namespace, session.pid)
            del self._live[key]
            window = self.windows(session.namespace)
            if window > 0:
                self._sessions[key] = (session, time.monotonic() + window)

    async def forget(self, session: Session) -> None:
        if self._holds(session):
            del self._live[session.namespace, session.pid]

    async def claim(self, pid: str, namespace: str, holder: str) -> Session | None:
        await self.checkpoints.reached("claim", pid)
        key = (namespace, pid)
        kept = self._sessions.pop(key, None)
        if kept is not None:
            session, expires = kept
            if time.monotonic() >= expires:
                return None
            previous = ""
        else:
            found = self._live.get(key)
            if found is None:
                return None
            session, previous = found, found.holder
        claimed = dataclasses.replace(
            session, rooms=list(session.rooms), holder=holder, previous=previous
        )
        self._live[key] = claimed
        return claimed

    async def track(self, session: Session) -> None:
        key = (session.namespace, session.pid)
        if self._holds(session) or (key not in self._live and key not in self._sessions):
            self._live[key] = session

    async def pending(self, namespace: str, pid: str) -> bool:
        kept = self._sessions.get((namespace, pid))
        return kept is not None and time.monotonic() < kept[1]

    async def resumable(self, session: Session, offset: str | None) -> bool:
        return self._position(session, offset) is not None

    async def missed(
        self, session: Session, offset: str | None, upto: str
    ) -> AsyncGenerator[list[list[Any]], None]:
        position = self._position(session, offset)
        if position is None:
            return
        end = int(upto.rpartition("-")[2])
        wanted = [
            s.args
            for s in self._logs.get(session.namespace, ())
            if position < self._number(s) <= end and s.wanted_by(session.sid, session.rooms)
        ]
        for first in range(0, len(wanted), REPLAY_SLICE):
            yield wanted[first : first + REPLAY_SLICE]

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
        for key in [k for k, (_, expires) in self._sessions.items() if expires <= now]:
            del self._sessions[key]
        for namespace, log in list(self._logs.items()):
            self._trim(namespace, log)
        with contextlib.suppress(RuntimeError):  # the loop is closing
            self._schedule_sweep()
