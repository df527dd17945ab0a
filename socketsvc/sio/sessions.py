"""The recoverable sessions of one node: which connections can come back, and what of them the
recovery log keeps.

:class:`~socketsvc.sio.server.SocketServer` runs the connect and disconnect flows and asks this
class at each step: before the connect handler (is this a reconnect, and of which session?),
once the client is connected (a fresh session, or the old one restored with what it missed),
when its rooms or session data change (tell the log, so even a crash loses nothing), and when
it leaves (keep the session for its window, or forget it). The log itself, in memory or in
Redis, is :class:`~socketsvc.sio.recovery.RecoveryLog`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from socketsvc import errors, protocol

from .observer import Observer
from .recovery import RECOVERABLE, RecoveryLog, Session

log = logging.getLogger("socketsvc.server")

# send(eio_sid, packet type, namespace, data): encode in the client's format and queue.
Send = Callable[[str, int, str, Any], None]


class RecoverableSessions:
    """Session bookkeeping for the namespaces with recovery (every call is a no-op for the
    others: they never get a session)."""

    def __init__(
        self,
        recovery: RecoveryLog,
        manager: Any,
        engine: Any,
        observer: Observer,
        disconnect: Callable[[str, str], Awaitable[None]],
        send: Send,
    ) -> None:
        self.recovery = recovery
        self.manager = manager
        self.engine = engine
        self.observer = observer
        self.disconnect = disconnect  # (sid, namespace): the server drops a client on purpose
        self.send = send
        # By (eio_sid, namespace) while the client connects, then by sid.
        self._connecting: dict[tuple[str, str], Session] = {}
        self._sessions: dict[str, Session] = {}
        self._taken_over: set[str] = set()  # sids whose session a reconnect just claimed
        self.recovered: set[str] = set()

    # -- connecting ---------------------------------------------------------------------------

    async def claim(self, namespace: str, auth: Any) -> tuple[Any, Session | None, str | None]:
        """The application's auth (without ``pid``/``offset``), and the session to restore
        with the client's offset, when it asks for one that can be restored."""
        if not isinstance(auth, dict) or "pid" not in auth:
            return auth, None, None
        auth = dict(auth)
        pid, offset = auth.pop("pid"), auth.pop("offset", None)
        offset = offset if isinstance(offset, str) else None
        if not self.recovery.windows(namespace) or not isinstance(pid, str):
            return auth, None, None
        session = await self.recovery.claim(pid, namespace)
        if session is None:
            log.info("recovery of %s: no session (expired, unknown or taken)", namespace)
            self.observer.recovery_miss(namespace, "unknown_session")
            return auth, None, None
        if not await self.recovery.resumable(session, offset):
            log.info("recovery of %s: what the client missed is no longer kept", namespace)
            self.observer.recovery_miss(namespace, "missed_too_much")
            return auth, None, None
        if session.live:
            # Its old connection still counts as open somewhere (its node crashed, or has not
            # noticed yet): drop it, on this node or through the bus, before the sid is reused.
            if self.manager.is_connected(session.sid, namespace):
                self._taken_over.add(session.sid)
            await self.disconnect(session.sid, namespace)
        return auth, session, offset

    def begin(self, eio_sid: str, namespace: str, restored: Session | None) -> None:
        """The connect handler is about to run: the client gets the restored session's sid,
        or (with recovery) a fresh session whose ``pid`` its CONNECT will carry."""
        if restored is not None:
            self._connecting[eio_sid, namespace] = restored
            self.manager.connect_as(eio_sid, namespace, restored.sid)
            self.recovered.add(restored.sid)
        elif self.recovery.windows(namespace):
            self._connecting[eio_sid, namespace] = Session(self.recovery.new_pid(), "", namespace)

    def pid_connecting(self, eio_sid: str, namespace: str) -> str | None:
        """The ``pid`` for the CONNECT packet of a client that is connecting."""
        session = self._connecting.get((eio_sid, namespace))
        return session.pid if session is not None else None

    def end(self, eio_sid: str, namespace: str) -> Session | None:
        """The connect handler has run (whatever its outcome): the session begun for it."""
        self.manager.connect_as(eio_sid, namespace, None)
        return self._connecting.pop((eio_sid, namespace), None)

    def refused(self, restored: Session | None) -> None:
        if restored is not None:
            self.recovered.discard(restored.sid)

    async def connected(
        self, sid: str, namespace: str, session: Session | None, restored: Session | None
    ) -> None:
        """The client is connected as ``sid``: its session is kept from now on."""
        if session is None:
            return
        session.sid = sid
        if restored is None:
            session.start = self.recovery.head(namespace)
            await self.recovery.track(session)
        self._sessions[sid] = session

    async def restore(
        self, eio_sid: str, namespace: str, session: Session, offset: str | None
    ) -> None:
        """The restored connection gets its rooms and session data back, then what it missed,
        in order. Stored packets are held back meanwhile: each reaches it exactly once,
        either in what it missed or live, after it."""
        async with self.recovery.holding():
            for room in session.rooms:
                await self.manager.enter_room(session.sid, namespace, room)
            engine_session = self.engine.sockets.get(eio_sid)
            if session.data is not None and engine_session is not None:
                engine_session.session[namespace] = session.data
            missed = await self.recovery.missed(session, offset)
            for args in missed:
                try:
                    self.send(eio_sid, protocol.EVENT, namespace, args)
                except errors.Unencodable as exc:
                    log.warning("recovery of %s: a missed packet was not sent: %s", namespace, exc)
        await self.recovery.track(session)

    # -- while connected ----------------------------------------------------------------------

    async def changed(self, sid: str, namespace: str) -> None:
        """A recoverable connection's rooms or session data changed: tell the recovery log,
        so that even a crash of this node does not lose them."""
        session = self._sessions.get(sid)
        if session is not None:
            self._snapshot(session, namespace)
            await self.recovery.track(session)

    def pid(self, sid: str) -> str | None:
        """The private id of ``sid``'s recoverable session (None without recovery)."""
        session = self._sessions.get(sid)
        return session.pid if session is not None else None

    # -- leaving ------------------------------------------------------------------------------

    def keep(self, sid: str | None, namespace: str, reason: str | None) -> Session | None:
        """What to keep of a connection that dropped without meaning to: its session, as it
        is now (call before the client's rooms are left)."""
        if sid is None or reason not in RECOVERABLE:
            return None
        session = self._sessions.get(sid)
        if session is None or not self.manager.is_connected(sid, namespace):
            return None
        self._snapshot(session, namespace)
        return session

    async def gone(self, sid: str, kept: Session | None) -> None:
        """``sid`` left: keep its session for recovery (``kept``), or forget it, unless a
        reconnect already claimed it."""
        self.recovered.discard(sid)
        session = self._sessions.pop(sid, None)
        if sid in self._taken_over:
            self._taken_over.discard(sid)
        elif kept is not None:  # claimable only now that the sid is gone
            await self.recovery.persist(kept)
        elif session is not None:
            await self.recovery.forget(session)

    def state_size(self) -> int:
        """Entries held for connections (zero once every client has left)."""
        return (
            len(self._connecting)
            + len(self._sessions)
            + len(self._taken_over)
            + len(self.recovered)
        )

    def _snapshot(self, session: Session, namespace: str) -> None:
        sid = session.sid
        session.rooms = [r for r in self.manager.get_rooms(sid, namespace) if r != sid]
        eio_session = self.engine.sockets.get(self.manager.eio_sid_from_sid(sid, namespace))
        if eio_session is not None:
            session.data = eio_session.session.get(namespace)
