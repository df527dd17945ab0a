"""Connection-state recovery shared by the workers of one machine (``--workers N`` without
Redis): a client that drops from one worker is recovered by whichever worker it reconnects
to, also after its worker died and was restarted.

The log and the dropped sessions are kept by the primary's hub (workers/stores.py), as Redis
keeps them for a cluster (:mod:`socketsvc.scaleout.redis_recovery`), and with the same order
guarantee: every stored emit gets its offset from the hub and reaches every worker, the
emitting one too, from the hub, in one order. A worker delivers each entry to its own clients
as it arrives; a client being restored gets what it missed up to the worker's position when it
joined (:meth:`LocalRecovery.head`), and what arrives after is held for it by the fan-out
(sio/sessions.py): each entry reaches it once, in order.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

from socketsvc.errors import Unencodable, UnsupportedValue
from socketsvc.scaleout import bus
from socketsvc.sio.once import Once
from socketsvc.sio.recovery import REPLAY_SLICE, Checkpoints, Session, Unavailable, Windows

from .client import Appended, HubClient

log = logging.getLogger("socketsvc.recovery")

# namespace, rooms (None: all), skipped sids, event args with the offset last
Deliver = Callable[[str, list[str] | None, list[str], list[Any]], None]


class LocalRecovery:
    """The machine's :class:`~socketsvc.sio.recovery.RecoveryLog` (see the module doc)."""

    def __init__(
        self, hub: HubClient, windows: Windows, checkpoints: Checkpoints | None = None
    ) -> None:
        self.hub = hub
        self.windows = windows
        self.checkpoints = checkpoints or Checkpoints()
        self.position = f"{hub.epoch}-{hub.first}"  # the last entry delivered here
        self.deliver: Deliver = lambda namespace, rooms, skip, args: None

    def follow(self, deliver: Deliver) -> None:
        """Entries of the log go to ``deliver`` (the worker's fan-out), in log order."""
        self.deliver = deliver
        self.hub.on_entry = self.arrived

    # -- the log ------------------------------------------------------------------------------

    async def publish(
        self,
        namespace: str,
        rooms: frozenset[str] | None,
        skip: frozenset[str],
        args: list[Any],
        once: Once | None = None,
    ) -> Appended:
        """Store an emit; it comes back (to every worker) with its offset, and this returns
        once it has its place in the log. With ``once``, the hub checks its key in the same
        step as the append: a key sent already appends nothing (``once.earlier`` is set).
        Not placed either when the hub is gone. Raises as :func:`~socketsvc.scaleout.bus.pack`
        does."""
        marker = None if once is None else [once.key, bus.pack(once.answer), once.seconds]
        message = [
            namespace,
            None if rooms is None else sorted(rooms),
            sorted(skip),
            self.windows(namespace),
            bus.pack(args),
            marker,
        ]
        appended = await self.hub.append(message)
        if appended.sent_before and once is not None:
            once.earlier = bus.unpack(appended.earlier)
        return appended

    def arrived(self, entry: list[Any]) -> None:
        number, namespace, rooms, skip, args = entry
        offset = f"{self.hub.epoch}-{number}"
        self.position = offset
        self.deliver(namespace, rooms, skip, [*bus.unpack(args), offset])

    def head(self, namespace: str) -> str:
        return self.position

    # -- sessions -----------------------------------------------------------------------------

    @staticmethod
    def _pack(session: Session) -> bytes:
        fields = [session.pid, session.sid, session.namespace, session.rooms, session.data]
        return bus.pack([*fields, session.start])

    def _args(self, session: Session) -> list[Any]:
        return [session.namespace, session.pid, session.holder]

    async def track(self, session: Session) -> None:
        try:
            state = self._pack(session)
        except (Unencodable, UnsupportedValue):
            return  # said when it is kept (persist)
        window = self.windows(session.namespace)
        self.hub.cast("recovery", "track", *self._args(session), state, window)

    async def persist(self, session: Session) -> None:
        await self.checkpoints.reached("persist", session.pid)
        window = self.windows(session.namespace)
        try:
            state = self._pack(session)
        except (Unencodable, UnsupportedValue) as exc:  # its session data
            log.warning("session of sid=%s not kept for recovery: %s", session.sid, exc)
            state, window = b"", 0.0
        self.hub.cast("recovery", "persist", *self._args(session), state, window)

    async def forget(self, session: Session) -> None:
        self.hub.cast("recovery", "forget", *self._args(session))

    async def claim(self, pid: str, namespace: str, holder: str) -> Session | None:
        await self.checkpoints.reached("claim", pid)
        found = await self.hub.call("recovery", "claim", namespace, pid, holder)
        if not found:
            return None
        state, previous = found
        try:
            _, sid, _, rooms, data, start = bus.unpack(state)
        except Exception:  # not a session this version wrote: it cannot be restored
            self.hub.cast("recovery", "forget", namespace, pid, holder)
            return None
        return Session(pid, sid, namespace, list(rooms), data, start, holder, str(previous))

    async def pending(self, namespace: str, pid: str) -> bool:
        return bool(await self.hub.call("recovery", "pending", namespace, pid, default=False))

    async def resumable(self, session: Session, offset: str | None) -> bool:
        after = offset if offset is not None else session.start
        found = await self.hub.call("recovery", "resumable", session.namespace, after)
        return bool(found)

    async def missed(
        self, session: Session, offset: str | None, upto: str
    ) -> AsyncGenerator[list[list[Any]], None]:
        cursor = offset if offset is not None else session.start
        while cursor is not None:
            found = await self.hub.call(
                "recovery",
                "missed",
                session.namespace,
                session.sid,
                session.rooms,
                cursor,
                upto,
                REPLAY_SLICE,
            )
            if found is None:  # the hub is gone
                raise Unavailable("workers: the primary process is gone")
            if found:
                yield [[*bus.unpack(args), entry_offset] for args, entry_offset in found]
                cursor = found[-1][1]
            if len(found) < REPLAY_SLICE:
                return

    # -- lifecycle (the hub link belongs to the worker) ---------------------------------------

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def problem(self) -> str | None:
        return self.hub.problem()
