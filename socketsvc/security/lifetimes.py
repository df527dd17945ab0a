"""How long each authenticated connection may stay: its token's ``exp``, enforced while it is
connected.

Every namespace connection that connected with a token has one :class:`Lifetime` (its
identity, the latest token's, and one timer), kept in its record by the Socket.IO layer
(sio/records.py); anonymous connections have nothing. The timer
first fires ``token_refresh_notice`` seconds before ``exp``, when the Socket.IO layer tells the
client (``auth:expiring``), then at ``exp + jwt_leeway``, when it closes the connection. A
refresh replaces the identity and re-arms the timer; a disconnect ends it and cancels its
timer. Timers, not tasks: a connection holds no coroutine while it waits.

A token that has less than the notice left when it arrives (at connect or at a refresh) gets
its notice halfway through what it has left, so a client whose issuer hands out short tokens is
not asked to refresh again the moment it has; a refresh to a token that expires no later than
the current one gets no new notice at all.

Times are wall-clock (``exp`` is), timers monotonic: a timer that fires while its time is not
yet due on the wall clock (the clock was set back, or the wait was longer than a timer takes)
is armed again for the rest.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from .auth import Identity

MAX_WAIT = 86_400.0  # seconds one timer waits at most; a longer lifetime re-arms (see above)


class Expiry(Protocol):
    """What the Socket.IO layer does when a connection's token runs out (its server)."""

    def token_expiring(self, sid: str, namespace: str, expires: int) -> None:
        """Tell the client its token expires at ``expires`` (``auth:expiring``)."""

    def token_expired(self, sid: str, namespace: str) -> None:
        """Close the namespace connection: its token expired and was not refreshed."""


class Lifetime:
    """One authenticated namespace connection: who it is, and its one timer. The Socket.IO
    layer keeps it in the connection's record; here only its timer refers to it."""

    __slots__ = ("due", "ended", "identity", "namespace", "noticed", "sid", "timer")

    def __init__(self, sid: str, namespace: str, identity: Identity) -> None:
        self.sid = sid
        self.namespace = namespace
        self.identity = identity
        self.timer: asyncio.TimerHandle | None = None
        self.due = 0.0  # wall-clock time the timer is for
        self.noticed = False  # auth:expiring sent for the current token
        self.ended = False  # the connection is gone: nothing more to do for it


class TokenLifetimes:
    """The timers of the authenticated connections of one node. It keeps no table: each
    timer holds its :class:`Lifetime`, and the connection's record holds the rest."""

    def __init__(self, notice: float, leeway: float) -> None:
        """``notice``: seconds before ``exp`` the client is told (0: never); ``leeway``: seconds
        after ``exp`` the connection is closed (``jwt_leeway``, as the verifier allows)."""
        self.notice = notice
        self.leeway = leeway
        self.expiry: Expiry | None = None

    def bind(self, expiry: Expiry) -> None:
        """Who acts when tokens run out: the node's Socket.IO server, once, when it is built."""
        self.expiry = expiry

    # -- one connection ---------------------------------------------------------------------

    def add(self, sid: str, namespace: str, identity: Identity) -> Lifetime:
        """A connection was admitted with ``identity``; its timer starts with :meth:`start`."""
        return Lifetime(sid, namespace, identity)

    def start(self, lifetime: Lifetime) -> None:
        """The client knows it is connected: from now on it can be told and closed."""
        if lifetime.timer is None and not lifetime.ended:
            self._arm(lifetime)

    def renew(self, lifetime: Lifetime, identity: Identity) -> bool:
        """The connection refreshed its token (same subject, checked by the caller): a new
        identity and a new timer. False when the connection is gone already."""
        if lifetime.ended:
            return False
        if lifetime.timer is not None:
            lifetime.timer.cancel()
        before, after = lifetime.identity.expires, identity.expires
        lifetime.identity = identity
        # A token that lasts no longer than the one it replaces gets no notice of its own: the
        # client was told already, and telling it again would only have it send the same.
        lifetime.noticed = lifetime.noticed and (before is None or after is None or after <= before)
        self._arm(lifetime)
        return True

    def end(self, lifetime: Lifetime) -> None:
        """The connection ended (or was refused): cancel its timer, for good."""
        lifetime.ended = True
        if lifetime.timer is not None:
            lifetime.timer.cancel()
            lifetime.timer = None

    # -- the timer ------------------------------------------------------------------------------

    def _arm(self, lifetime: Lifetime) -> None:
        """The next step of the current token: its notice, else its end."""
        expires = lifetime.identity.expires
        if expires is None:  # verified tokens always have one; nothing to enforce otherwise
            return
        now = time.time()
        if self.notice and not lifetime.noticed:
            due = expires - self.notice
            if due <= now:  # less than the notice left: halfway through what is left
                due = now + max(expires - now, 0.0) / 2
        else:
            due = expires + self.leeway
        lifetime.due = due
        loop = asyncio.get_running_loop()
        lifetime.timer = loop.call_later(min(max(due - now, 0.0), MAX_WAIT), self._fire, lifetime)

    def _fire(self, lifetime: Lifetime) -> None:
        if lifetime.ended:
            return
        lifetime.timer = None
        now = time.time()
        if now < lifetime.due:  # early on the wall clock: wait for the rest
            wait = min(lifetime.due - now, MAX_WAIT)
            lifetime.timer = asyncio.get_running_loop().call_later(wait, self._fire, lifetime)
            return
        expiry = self.expiry
        assert expiry is not None, "TokenLifetimes.bind() was not called"
        expires = lifetime.identity.expires
        sid, namespace = lifetime.sid, lifetime.namespace
        if self.notice and not lifetime.noticed and expires is not None:
            lifetime.noticed = True
            expiry.token_expiring(sid, namespace, expires)
            self._arm(lifetime)
            return
        expiry.token_expired(sid, namespace)
