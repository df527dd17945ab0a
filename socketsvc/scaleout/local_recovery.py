"""Connection-state recovery shared by the workers of one machine (``--workers N`` without
Redis): a client that drops from one worker is recovered by whichever worker it reconnects
to, also after its worker died and was restarted.

The log and the dropped sessions are kept by the primary's hub (workers/stores.py), as Redis
keeps them for a cluster (:mod:`.redis_recovery`), and with the same order guarantee: every
stored emit gets its offset from the hub and reaches every worker, the emitting one too, from
the hub, in one order. A worker delivers each entry to its own clients as it arrives, except
while a recovered client is being restored (:meth:`LocalRecovery.holding`): entries wait
then, so that each reaches that client once, either in what it missed or after it.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

from socketsvc.errors import Unencodable, UnsupportedValue
from socketsvc.scaleout import bus
from socketsvc.sio.recovery import Session, Windows
from socketsvc.workers.client import HubClient

log = logging.getLogger("socketsvc.recovery")

# namespace, rooms (None: all), skipped sids, event args with the offset last
Deliver = Callable[[str, list[str] | None, list[str], list[Any]], None]


class LocalRecovery:
    """The machine's :class:`~socketsvc.sio.recovery.RecoveryLog` (see the module doc)."""

    def __init__(self, hub: HubClient, windows: Windows) -> None:
        self.hub = hub
        self.windows = windows
        self.position = f"{hub.epoch}-{hub.first}"  # the last entry delivered here
        self.deliver: Deliver = lambda namespace, rooms, skip, args: None
        self._held = 0
        self._waiting: list[list[Any]] = []

    def follow(self, deliver: Deliver) -> None:
        """Entries of the log go to ``deliver`` (the worker's fan-out), in log order."""
        self.deliver = deliver
        self.hub.on_entry = self.arrived

    # -- the log ------------------------------------------------------------------------------

    async def publish(
        self, namespace: str, rooms: frozenset[str] | None, skip: frozenset[str], args: list[Any]
    ) -> bool:
        """Store an emit; it comes back (to every worker) with its offset, and this returns
        once it has its place in the log. False when the hub is gone. Raises as
        :func:`~socketsvc.scaleout.bus.pack` does."""
        message = [
            namespace,
            None if rooms is None else sorted(rooms),
            sorted(skip),
            self.windows(namespace),
            bus.pack(args),
        ]
        return await self.hub.append(message)

    def arrived(self, entry: list[Any]) -> None:
        if self._held:
            self._waiting.append(entry)
        else:
            self._deliver(entry)

    def _deliver(self, entry: list[Any]) -> None:
        number, namespace, rooms, skip, args = entry
        offset = f"{self.hub.epoch}-{number}"
        self.position = offset
        self.deliver(namespace, rooms, skip, [*bus.unpack(args), offset])

    @contextlib.asynccontextmanager
    async def holding(self) -> AsyncIterator[None]:
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            while not self._held and self._waiting:
                self._deliver(self._waiting.pop(0))

    def head(self, namespace: str) -> str:
        return self.position

    def new_pid(self) -> str:
        return secrets.token_urlsafe(18)

    # -- sessions -----------------------------------------------------------------------------

    @staticmethod
    def _pack(session: Session) -> bytes:
        fields = [session.pid, session.sid, session.namespace, session.rooms, session.data]
        return bus.pack([*fields, session.start])

    async def track(self, session: Session) -> None:
        try:
            state = self._pack(session)
        except (Unencodable, UnsupportedValue):
            return  # said when it is kept (persist)
        window = self.windows(session.namespace)
        self.hub.cast("recovery", "track", session.pid, session.namespace, state, window)

    async def persist(self, session: Session) -> None:
        window = self.windows(session.namespace)
        try:
            state = self._pack(session)
        except (Unencodable, UnsupportedValue) as exc:  # its session data
            log.warning("session of sid=%s not kept for recovery: %s", session.sid, exc)
            state, window = b"", 0.0
        self.hub.cast("recovery", "persist", session.pid, session.namespace, state, window)

    async def forget(self, session: Session) -> None:
        self.hub.cast("recovery", "forget", session.pid)

    async def claim(self, pid: str, namespace: str) -> Session | None:
        found = await self.hub.call("recovery", "claim", pid, namespace)
        if not found:
            return None
        state, live = found
        try:
            pid, sid, namespace, rooms, data, start = bus.unpack(state)
        except Exception:
            return None
        return Session(pid, sid, namespace, list(rooms), data, start, live=bool(live))

    async def pending(self, pid: str) -> bool:
        return bool(await self.hub.call("recovery", "pending", pid, default=False))

    async def resumable(self, session: Session, offset: str | None) -> bool:
        after = offset if offset is not None else session.start
        found = await self.hub.call("recovery", "resumable", session.namespace, after)
        return bool(found)

    async def missed(self, session: Session, offset: str | None) -> list[list[Any]]:
        after = offset if offset is not None else session.start
        found = await self.hub.call(
            "recovery",
            "missed",
            session.namespace,
            session.sid,
            session.rooms,
            after,
            self.position,
            default=[],
        )
        return [[*bus.unpack(args), entry_offset] for args, entry_offset in found]

    # -- lifecycle (the hub link belongs to the worker) ---------------------------------------

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def problem(self) -> str | None:
        return self.hub.problem()
