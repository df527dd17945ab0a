"""What the primary keeps for the workers of one machine: the recovery log and dropped
sessions, and presence. (The chat archive is :class:`~socketsvc.scaleout.archive.MemoryArchive`
as it is.) Everything lives as long as the primary: a worker that dies loses nothing here, and
its clients are recovered by whichever worker they reconnect to.

The stores never unpack what clients sent: emitted arguments and session data stay packed
bytes, as the workers packed them.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from socketsvc.scaleout.presence import MemoryPresence


@dataclass(frozen=True)
class Entry:
    """One stored emit: its number in the machine's one order, and who got it."""

    number: int
    namespace: str
    rooms: frozenset[str] | None  # None: every client of the namespace
    skip: frozenset[str]
    args: bytes  # packed event arguments, without the offset
    at: float

    def wanted_by(self, sid: str, rooms: list[str]) -> bool:
        if sid in self.skip:
            return False
        return self.rooms is None or sid in self.rooms or any(r in self.rooms for r in rooms)


@dataclass
class Kept:
    """A session: its packed state and window, the connection holding it (its Engine.IO sid;
    the worker it is on), and when it expires once dropped."""

    state: bytes
    window: float
    holder: str = ""
    worker: int = -1
    expires: float = 0.0


Key = tuple[str, str]  # (namespace, pid)


class HubRecovery:
    """The machine's recovery log: one sequence of offsets ``<epoch>-<n>`` over every
    namespace (the epoch is random per primary, so offsets from before a restart never
    match), bounded per namespace by ``max_packets``, ``max_bytes`` and the window."""

    def __init__(self, max_packets: int, max_bytes: int) -> None:
        self.max_packets = max_packets
        self.max_bytes = max_bytes
        self.epoch = secrets.token_hex(4)
        self.last = 0
        self._logs: dict[str, deque[Entry]] = {}
        self._bytes: dict[str, int] = {}
        self._evicted: dict[str, int] = {}  # namespace -> highest number no longer kept
        self._windows: dict[str, float] = {}
        self._live: dict[Key, Kept] = {}  # sessions of connections open on a worker
        self._dropped: dict[Key, Kept] = {}  # sessions waiting for their client

    def offset(self, number: int) -> str:
        return f"{self.epoch}-{number}"

    # -- packets ------------------------------------------------------------------------------

    def append(self, namespace: str, rooms: Any, skip: Any, window: float, args: bytes) -> Entry:
        self.last += 1
        entry = Entry(
            self.last,
            namespace,
            None if rooms is None else frozenset(rooms),
            frozenset(skip),
            args,
            time.monotonic(),
        )
        self._windows[namespace] = window
        log = self._logs.get(namespace)
        if log is None:
            log = self._logs[namespace] = deque()
            self._bytes[namespace] = 0
        log.append(entry)
        self._bytes[namespace] += len(args)
        self._trim(namespace)
        return entry

    def _trim(self, namespace: str) -> None:
        log = self._logs[namespace]
        oldest = time.monotonic() - self._windows.get(namespace, 0.0)
        while log and (
            len(log) > self.max_packets
            or self._bytes[namespace] > self.max_bytes
            or log[0].at < oldest
        ):
            gone = log.popleft()
            self._bytes[namespace] -= len(gone.args)
            self._evicted[namespace] = gone.number
        if not log:
            del self._logs[namespace]
            del self._bytes[namespace]

    def _number(self, offset: Any) -> int | None:
        if not isinstance(offset, str):
            return None
        epoch, _, number = offset.partition("-")
        if epoch != self.epoch or not number.isdigit() or int(number) > self.last:
            return None
        return int(number)

    def resumable(self, namespace: str, after: Any) -> bool:
        """Whether everything of ``namespace`` after offset ``after`` is still kept."""
        number = self._number(after)
        return number is not None and number >= self._evicted.get(namespace, 0)

    def missed(
        self, namespace: str, sid: str, rooms: list[str], after: Any, upto: Any, count: int
    ) -> list[list[Any]]:
        """``[packed args, offset]`` of the first ``count`` entries a client in ``rooms`` got
        after ``after``, up to ``upto`` (a worker's head), oldest first."""
        first, last = self._number(after), self._number(upto)
        if first is None or last is None:
            return []
        found: list[list[Any]] = []
        for entry in self._logs.get(namespace, ()):
            if entry.number > last or len(found) == count:
                break
            if entry.number > first and entry.wanted_by(sid, rooms):
                found.append([entry.args, self.offset(entry.number)])
        return found

    # -- sessions (as MemoryRecovery keeps them: by namespace and pid, held by a connection) ---

    def _holds(self, key: Key, holder: str) -> bool:
        live = self._live.get(key)
        return live is not None and live.holder == holder

    def track(
        self, worker: int, namespace: str, pid: str, holder: str, state: bytes, window: float
    ) -> None:
        """A live connection's session, while ``holder`` holds it (or nobody has it yet)."""
        key = (namespace, pid)
        if self._holds(key, holder) or (key not in self._live and key not in self._dropped):
            self._live[key] = Kept(state, window, holder, worker)

    def persist(
        self, worker: int, namespace: str, pid: str, holder: str, state: bytes, window: float
    ) -> None:
        """``holder``'s connection dropped: kept for the window, if it still holds the session
        (a client that came back elsewhere has claimed it already)."""
        key = (namespace, pid)
        if not self._holds(key, holder):
            return
        del self._live[key]
        if window > 0 and state:
            expires = time.monotonic() + window
            self._dropped[key] = Kept(state, window, expires=expires)

    def forget(self, worker: int, namespace: str, pid: str, holder: str) -> None:
        key = (namespace, pid)
        if self._holds(key, holder):
            del self._live[key]

    def claim(self, worker: int, namespace: str, pid: str, holder: str) -> list[Any] | None:
        """``[state, previous]`` of the session, now held by ``holder`` on ``worker``, in one
        step: exactly one claim gets a dropped session; a live one is taken over from
        ``previous`` (the connection that held it, which must be dropped)."""
        key = (namespace, pid)
        kept = self._dropped.pop(key, None)
        if kept is not None:
            if time.monotonic() >= kept.expires:
                return None
            previous = ""
        else:
            kept = self._live.get(key)
            if kept is None:
                return None
            previous = kept.holder
        self._live[key] = Kept(kept.state, kept.window, holder, worker)
        return [kept.state, previous]

    def pending(self, namespace: str, pid: str) -> bool:
        kept = self._dropped.get((namespace, pid))
        return kept is not None and time.monotonic() < kept.expires

    def worker_gone(self, worker: int) -> None:
        """A worker died: the sessions of its connections are kept as dropped ones."""
        now = time.monotonic()
        for key, kept in list(self._live.items()):
            if kept.worker == worker:
                del self._live[key]
                if kept.window > 0 and kept.state:
                    kept.expires = now + kept.window
                    self._dropped[key] = kept

    def sweep(self) -> None:
        """Drop expired sessions and packets older than their window."""
        now = time.monotonic()
        for key in [k for k, kept in self._dropped.items() if kept.expires <= now]:
            del self._dropped[key]
        for namespace in list(self._logs):
            self._trim(namespace)

    def size(self) -> int:
        return len(self._live) + len(self._dropped) + sum(map(len, self._logs.values()))


class HubPresence:
    """:class:`MemoryPresence` for the whole machine; a worker's members leave with it."""

    def __init__(self) -> None:
        self.names = MemoryPresence()
        self._owned: dict[int, set[tuple[str, str, str]]] = {}

    async def add(self, worker: int, namespace: str, room: str, sid: str, name: str) -> None:
        await self.names.add(namespace, room, sid, name)
        self._owned.setdefault(worker, set()).add((namespace, room, sid))

    async def remove(self, worker: int, namespace: str, room: str, sid: str) -> str | None:
        self._owned.get(worker, set()).discard((namespace, room, sid))
        return await self.names.remove(namespace, room, sid)

    async def worker_gone(self, worker: int) -> None:
        for namespace, room, sid in self._owned.pop(worker, set()):
            await self.names.remove(namespace, room, sid)
