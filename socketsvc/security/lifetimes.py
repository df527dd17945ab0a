"""How long each authenticated connection may stay: its token's ``exp``, enforced while it is
connected.

Every namespace connection that connected with a token has one :class:`Lifetime` here (its
identity, the latest token's, and one timer); anonymous connections have nothing. The timer
first fires ``token_refresh_notice`` seconds before ``exp``, when the Socket.IO layer tells the
client (``auth:expiring``), then at ``exp + jwt_leeway``, when it closes the connection. A
refresh replaces the identity and re-arms the timer; a disconnect drops the record and cancels
its timer. Timers, not tasks: a connection holds no coroutine while it waits.

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
from collections.abc import Iterator, Mapping
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
    """One authenticated namespace connection: who it is, and its one timer."""

    __slots__ = ("due", "identity", "namespace", "noticed", "timer")

    def __init__(self, namespace: str, identity: Identity) -> None:
        self.namespace = namespace
        self.identity = identity
        self.timer: asyncio.TimerHandle | None = None
        self.due = 0.0  # wall-clock time the timer is for
        self.noticed = False  # auth:expiring sent for the current token


class TokenLifetimes:
    """The authenticated connections of one node, by Socket.IO sid (node-local)."""

    def __init__(self, notice: float, leeway: float) -> None:
        """``notice``: seconds before ``exp`` the client is told (0: never); ``leeway``: seconds
        after ``exp`` the connection is closed (``jwt_leeway``, as the verifier allows)."""
        self.notice = notice
        self.leeway = leeway
        self.expiry: Expiry | None = None
        self._live: dict[str, Lifetime] = {}
        self._subjects: dict[str, set[str]] = {}  # sub -> its sids on this node

    def bind(self, expiry: Expiry) -> None:
        """Who acts when tokens run out: the node's Socket.IO server, once, when it is built."""
        self.expiry = expiry

    # -- one connection ---------------------------------------------------------------------

    def add(self, sid: str, namespace: str, identity: Identity) -> None:
        """A connection was admitted with ``identity``; its timer starts with :meth:`start`."""
        self._live[sid] = Lifetime(namespace, identity)
        subject = identity.subject
        if subject is not None:
            self._subjects.setdefault(subject, set()).add(sid)

    def start(self, sid: str) -> None:
        """The client knows it is connected: from now on it can be told and closed."""
        record = self._live.get(sid)
        if record is not None and record.timer is None:
            self._arm(sid, record)

    def renew(self, sid: str, identity: Identity) -> bool:
        """The connection refreshed its token (same subject, checked by the caller): a new
        identity and a new timer. False when the connection is gone already."""
        record = self._live.get(sid)
        if record is None:
            return False
        if record.timer is not None:
            record.timer.cancel()
        before, after = record.identity.expires, identity.expires
        record.identity = identity
        # A token that lasts no longer than the one it replaces gets no notice of its own: the
        # client was told already, and telling it again would only have it send the same.
        record.noticed = record.noticed and (before is None or after is None or after <= before)
        self._arm(sid, record)
        return True

    def remove(self, sid: str) -> None:
        """The connection ended (or was refused): forget it, cancel its timer."""
        record = self._live.pop(sid, None)
        if record is None:
            return
        if record.timer is not None:
            record.timer.cancel()
        subject = record.identity.subject
        if subject is not None:
            sids = self._subjects.get(subject)
            if sids is not None:
                sids.discard(sid)
                if not sids:
                    del self._subjects[subject]

    def identity(self, sid: str) -> Identity | None:
        record = self._live.get(sid)
        return None if record is None else record.identity

    def of_subject(self, subject: str) -> list[tuple[str, str]]:
        """``(sid, namespace)`` of every connection on this node with this ``sub``."""
        live = self._live
        return [(sid, live[sid].namespace) for sid in self._subjects.get(subject, ())]

    @property
    def identities(self) -> Mapping[str, Identity]:
        """sid -> identity, read-only."""
        return _Identities(self._live)

    def __len__(self) -> int:
        return len(self._live)

    def timers(self) -> int:
        """Timers armed (tests check it matches the connections)."""
        return sum(1 for record in self._live.values() if record.timer is not None)

    # -- the timer ------------------------------------------------------------------------------

    def _arm(self, sid: str, record: Lifetime) -> None:
        """The next step of the current token: its notice, else its end."""
        expires = record.identity.expires
        if expires is None:  # verified tokens always have one; nothing to enforce otherwise
            return
        now = time.time()
        if self.notice and not record.noticed:
            due = expires - self.notice
            if due <= now:  # less than the notice left: halfway through what is left
                due = now + max(expires - now, 0.0) / 2
        else:
            due = expires + self.leeway
        record.due = due
        loop = asyncio.get_running_loop()
        record.timer = loop.call_later(min(max(due - now, 0.0), MAX_WAIT), self._fire, sid)

    def _fire(self, sid: str) -> None:
        record = self._live.get(sid)
        if record is None:
            return
        record.timer = None
        now = time.time()
        if now < record.due:  # early on the wall clock: wait for the rest
            wait = min(record.due - now, MAX_WAIT)
            record.timer = asyncio.get_running_loop().call_later(wait, self._fire, sid)
            return
        expiry = self.expiry
        assert expiry is not None, "TokenLifetimes.bind() was not called"
        expires = record.identity.expires
        if self.notice and not record.noticed and expires is not None:
            record.noticed = True
            expiry.token_expiring(sid, record.namespace, expires)
            self._arm(sid, record)
            return
        expiry.token_expired(sid, record.namespace)


class _Identities(Mapping[str, Identity]):
    """A read-only view of the identities in a lifetimes table."""

    def __init__(self, live: dict[str, Lifetime]) -> None:
        self._live = live

    def __getitem__(self, sid: str) -> Identity:
        return self._live[sid].identity

    def __iter__(self) -> Iterator[str]:
        return iter(self._live)

    def __len__(self) -> int:
        return len(self._live)
