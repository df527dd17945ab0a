"""The in-memory recovery log, node-local: :class:`~socketsvc.sio.recovery.RecoveryLog` and
:class:`~socketsvc.sio.recovery.Recorder` (the interfaces sio/recovery.py defines) in this
process. Sessions survive a dropped connection, not a node restart; its Redis twin, shared by
every node, is redis_recovery.py's ``RedisRecovery``. backends.py picks one.

Both pack what they keep as nodes exchange it through Redis, so both refuse the same values (a
type no wire format carries, an integer past 64 bits, nesting past 1024 levels).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import time
from collections import deque
from collections.abc import AsyncGenerator
from typing import Any

import msgpack

from socketsvc.errors import Unencodable
from socketsvc.protocol.values import fields_of, unsupported_value
from socketsvc.sio.recovery import REPLAY_SLICE, Checkpoints, Session, Stored, Windows

SWEEP_SECONDS = 5.0  # how often expired sessions and packets go, idle or not


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


class MemoryRecovery:
    """The recovery log in this process: bounded per namespace by ``max_packets`` and
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
