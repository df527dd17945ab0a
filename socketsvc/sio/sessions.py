"""The recoverable sessions of one node: which connections can come back, and what of them the
recovery log keeps.

:class:`~socketsvc.sio.server.SocketServer` runs the connect and disconnect flows and asks this
class at each step: before the connect handler (is this a reconnect, and of which session?),
as the client joins the namespace (its rooms and session data back at once, and what is sent
to it meanwhile held back), once it is connected (what it missed, then what was held), when
its rooms or session data change (tell the log, so even a crash loses nothing), and when it
leaves (keep the session for its window, or forget it). The log itself, in memory or in
Redis, is :class:`~socketsvc.sio.recovery.RecoveryLog`.

Each session is held by one connection, from the claim on: it is in that connection's record
(records.py), which a restore's record has from the claim and a fresh one from the connect.
Every step below checks that the record it acts for is still the sid's, so a flow overtaken
by a reconnect (on this node or another) changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from socketsvc import errors, protocol
from socketsvc.errors import OncePerCause

from .observer import Observer
from .records import Connection, ConnectionTable, Joining
from .recovery import RECOVERABLE, RecoveryLog, Session, Unavailable, new_pid

log = logging.getLogger("socketsvc.server")

# send(eio_sid, packet type, namespace, data): encode in the client's format and queue.
Send = Callable[[str, int, str, Any], None]
# Restores replaying at once: each replays a slice, then lets the others (and every other
# task of the node) run; more wait their turn, so a burst of them cannot stall the node.
REPLAYS = 4
# Claims asking the log at once: a burst of reconnects (a rolling restart) queues here rather
# than for the log's connections, where a wait past the socket timeout counts as an outage.
CLAIMS = 16
# Seconds a claim waits for an older connection of its sid that is still leaving this node (its
# disconnect handler runs) before the client connects fresh instead.
LEAVING_WAIT = 5.0
DRAIN_WAIT = 0.02  # seconds between looks at a client's backlog before its next slice


class RecoverableSessions:
    """Session bookkeeping for the namespaces with recovery (every call is a no-op for the
    others: they never get a session)."""

    def __init__(
        self,
        recovery: RecoveryLog,
        connections: ConnectionTable,
        manager: Any,
        engine: Any,
        observer: Observer,
        drop: Callable[[str, str, str], Awaitable[None]],
        send: Send,
        close: Callable[[str], Awaitable[None]],
    ) -> None:
        self.recovery = recovery
        self.connections = connections
        self.manager = manager  # a FanoutManager: rooms
        self.engine = engine
        self.observer = observer
        # (sid, namespace, eio_sid): the server drops that connection of sid, here or elsewhere
        self.drop = drop
        self.send = send
        self.close = close  # (eio_sid): close a transport; its client reconnects
        self._claiming: dict[str, str] = {}  # pid -> the connection that claimed it last here
        self._replays = asyncio.Semaphore(REPLAYS)
        self._claims = asyncio.Semaphore(CLAIMS)
        self._refused = OncePerCause(log)

    # -- connecting ---------------------------------------------------------------------------

    async def claim(
        self, eio_sid: str, namespace: str, auth: Any
    ) -> tuple[Any, Connection | None, str | None]:
        """The application's auth (without ``pid``/``offset``), and, when the client asks for
        a session that can be restored, the record that holds it from now on (its sid, the
        session) with the client's offset."""
        if not isinstance(auth, dict) or "pid" not in auth:
            return auth, None, None
        auth = dict(auth)
        pid, offset = auth.pop("pid"), auth.pop("offset", None)
        offset = offset if isinstance(offset, str) else None
        if not self.recovery.windows(namespace) or not isinstance(pid, str):
            return auth, None, None
        self._claiming[pid] = eio_sid
        try:
            async with self._claims:
                session = await self.recovery.claim(pid, namespace, eio_sid)
            if session is not None and not await self._take_over(session, eio_sid):
                await self.recovery.persist(session)  # not yet: kept for the next attempt
                self._miss(namespace, "unknown_session", "an older connection is still leaving")
                return auth, None, None
        finally:
            if self._claiming.get(pid) == eio_sid:
                del self._claiming[pid]
        if session is None:
            self._miss(namespace, "unknown_session", "no session (expired, unknown or taken)")
            return auth, None, None
        async with self._claims:
            resumable = await self.recovery.resumable(session, offset)
        if not resumable:
            await self.recovery.forget(session)
            self._miss(namespace, "missed_too_much", "what the client missed is no longer kept")
            return auth, None, None
        record = self.connections.open(session.sid, namespace, eio_sid)
        record.session, record.recovered = session, True  # held by this connection from now on
        return auth, record, offset

    async def _take_over(self, session: Session, eio_sid: str) -> bool:
        """Drop the connections the claimed session's sid still has: the one it was claimed
        from (here, or through the bus to its node), and any older one on this node, but
        never a newer one. False when a later claim on this node took the session over, or a
        connection of the sid still leaving this node (its disconnect handler runs) has not
        left within ``LEAVING_WAIT``."""
        sid, namespace = session.sid, session.namespace
        await self.recovery.checkpoints.reached("claimed", session.pid)
        if session.previous:
            await self.drop(sid, namespace, session.previous)
        here = self.manager.eio_sid_from_sid(sid, namespace)
        if here is None:
            return True
        if self._claiming.get(session.pid) != eio_sid:
            return False  # a later claim here holds it (and drops what it must)
        await self.drop(sid, namespace, here)  # older than this claim: its client left it
        if self.manager.eio_sid_from_sid(sid, namespace) is None:
            return True
        leaving = self.connections.of(sid, here)  # it was already leaving
        if leaving is None:
            return False
        if leaving.left is None:
            leaving.left = asyncio.Event()  # set when its record is dropped
        try:
            await asyncio.wait_for(leaving.left.wait(), LEAVING_WAIT)
        except TimeoutError:
            return False
        return self._claiming.get(session.pid) == eio_sid

    def _miss(self, namespace: str, reason: str, why: str) -> None:
        log.info("recovery of %s: %s", namespace, why)
        self.observer.recovery_miss(namespace, reason)

    def begin(self, eio_sid: str, namespace: str, restored: Connection | None) -> None:
        """The client is about to join the namespace. A restored session comes back with its
        sid, rooms and session data as it joins, and what is sent to it is held until it has
        what it missed; a fresh one (with recovery) gets a ``pid`` its CONNECT will carry."""
        head = self.recovery.head(namespace)
        joining = self.connections.joining
        if restored is not None:  # its session is in the record since the claim
            self.connections.hold(restored)
            data = restored.session.data if restored.session is not None else None
            engine_session = self.engine.sockets.get(eio_sid)
            if data is not None and engine_session is not None:
                engine_session.session[namespace] = data
            joining[eio_sid, namespace] = Joining(restored.session, head, restored, True)
        elif self.recovery.windows(namespace):
            fresh = Session(new_pid(), "", namespace, start=head, holder=eio_sid)
            joining[eio_sid, namespace] = Joining(fresh, head)
        else:
            joining[eio_sid, namespace] = Joining(None)

    def pid_connecting(self, eio_sid: str, namespace: str) -> str | None:
        """The ``pid`` for the CONNECT packet of a client that is connecting."""
        joining = self.connections.joining.get((eio_sid, namespace))
        session = joining.session if joining is not None else None
        return session.pid if session is not None else None

    def end(self, eio_sid: str, namespace: str) -> Joining:
        """The connect handler has run (whatever its outcome): what was begun for it (its
        record, once the manager gave it a sid)."""
        return self.connections.joining.pop((eio_sid, namespace), None) or Joining(None)

    async def refused(self, record: Connection) -> None:
        """The connect of ``record`` (dropped from the table) did not complete: a restored
        session is kept again, for the client's next attempt."""
        if record.recovered and record.session is not None:
            await self.recovery.persist(record.session)

    async def connected(self, record: Connection, session: Session | None) -> None:
        """The client is connected: a fresh session is kept from now on (a restored one is,
        since its claim)."""
        if session is None or record.recovered:
            return
        session.sid = record.sid
        record.session = session
        await self.recovery.track(session)

    async def restore(self, record: Connection, offset: str | None, head: str) -> bool:
        """The restored client gets what it missed up to ``head``, in slices paced with the
        node's other restores, then what was held for it since it joined: each packet once,
        in order. If that cannot be done (the log went down, or dropped part of it meanwhile),
        its transport is closed: it reconnects and recovers from where it got to. True once
        it has everything."""
        eio_sid, namespace, session = record.eio_sid, record.namespace, record.session
        assert session is not None, "a restore without a session"
        checkpoints = self.recovery.checkpoints
        await checkpoints.reached("connected", session.pid)
        slices = self.recovery.missed(session, offset, head)
        try:
            while True:
                await self._drained(eio_sid)
                async with self._replays:
                    missed = await anext(slices, None)
                    if missed is None:  # all sent: was any of it dropped from the log since?
                        complete = await self.recovery.resumable(session, offset)
                        break
                    if not self._holds(record):
                        complete = False
                        break
                    for args in missed:
                        self._replay(eio_sid, namespace, args)
                await asyncio.sleep(0)  # let the node's other tasks run between slices
                await checkpoints.reached("replaying", session.pid)
        except Unavailable:
            complete = False
        finally:
            await slices.aclose()
        if not self._holds(record):
            return False  # it dropped (kept again) or was taken over meanwhile
        why = "the log went down or dropped part of it"
        if complete:  # else what is held stays held until the transport is closed
            held = self.connections.release(record)
            complete, why = held is None or not held.overflowed, "held too much"
        if not complete:
            log.warning(
                "recovery of %s: replay not completed (%s); closing %s", namespace, why, eio_sid
            )
            await self.close(eio_sid)
            return False
        if held is not None:
            for frames in held.frames:
                self.engine.push(eio_sid, frames)
        await checkpoints.reached("restored", session.pid)
        return True

    def _replay(self, eio_sid: str, namespace: str, args: list[Any]) -> None:
        try:
            self.send(eio_sid, protocol.EVENT, namespace, args)
        except errors.Unencodable as exc:
            self._refused(exc.cause, "recovery of %s: a missed packet not sent: %s", namespace, exc)

    async def _drained(self, eio_sid: str) -> None:
        """Wait while the client has a backlog: a replay must not cut it as a slow consumer."""
        engine_session = self.engine.sockets.get(eio_sid)
        while engine_session is not None and not engine_session.closed:
            if not engine_session.backlogged():
                return
            await asyncio.sleep(DRAIN_WAIT)

    # -- while connected ----------------------------------------------------------------------

    async def changed(self, sid: str, namespace: str) -> None:
        """A recoverable connection's rooms or session data changed: tell the recovery log,
        so that even a crash of this node does not lose them."""
        record = self.connections.get(sid)
        session = record.session if record is not None else None
        if session is not None:
            self._snapshot(session, namespace)
            await self.recovery.track(session)

    def pid(self, sid: str) -> str | None:
        """The private id of ``sid``'s recoverable session (None without recovery)."""
        record = self.connections.get(sid)
        session = record.session if record is not None else None
        return session.pid if session is not None else None

    # -- leaving ------------------------------------------------------------------------------

    def keep(
        self, sid: str | None, eio_sid: str, namespace: str, reason: str | None
    ) -> Session | None:
        """What to keep of a connection that dropped without meaning to: its session, as it
        is now (call before the client's rooms are left)."""
        if sid is None or reason not in RECOVERABLE:
            return None
        record = self.connections.of(sid, eio_sid)
        if record is None or record.session is None:
            return None
        if not self.manager.is_connected(sid, namespace):
            return None
        self._snapshot(record.session, namespace)
        return record.session

    async def gone(self, record: Connection, kept: Session | None) -> None:
        """``record``'s connection left (its record is dropped): keep its session for
        recovery (``kept``), or forget it."""
        if record.session is None:
            return
        if kept is not None:  # claimable only now that the sid is gone
            await self.recovery.persist(kept)
        else:
            await self.recovery.forget(record.session)

    def state_size(self) -> int:
        """Claims under way (zero once every client has connected or left)."""
        return len(self._claiming)

    def _holds(self, record: Connection) -> bool:
        return self.connections.get(record.sid) is record

    def _snapshot(self, session: Session, namespace: str) -> None:
        sid = session.sid
        session.rooms = [r for r in self.manager.get_rooms(sid, namespace) if r != sid]
        eio_session = self.engine.sockets.get(self.manager.eio_sid_from_sid(sid, namespace))
        if eio_session is not None:
            session.data = eio_session.session.get(namespace)
