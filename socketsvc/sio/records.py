"""What this node keeps about each namespace connection: one record, dropped by one call.

A namespace connection is known here from its admission (its security checks passed; for a
restored session, from the claim that took the session over) until it has left. Its
:class:`Connection` holds everything socketsvc keeps for it: the handshake, the token's
lifetime, the recoverable session, what is held back while it restores, and how it ends.
:meth:`ConnectionTable.drop` is the one way out, so a feature that adds a field cannot forget
to clean it.

While a CONNECT is in flight, before python-socketio has given it a sid, the connect flow's
state is a :class:`Joining`, by ``(eio_sid, namespace)``, consumed once the connect handler
has run.

Two indexes stand beside the records, kept by the same calls: the connections that hold
packets back (every emit looks there, so the check costs nothing while nobody restores), and
the authenticated ones by ``sub`` (targeted disconnects).

What is not here, and why: the rooms are the manager's (python-socketio's table, cleaned by
its own disconnect); what belongs to the transport rather than to one namespace (its wire
format, its event budget, its connect deadline) is keyed by Engine.IO sid and dropped when
the transport closes (server.py ``_close_session``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from socketsvc.security.auth import Identity
from socketsvc.security.lifetimes import Lifetime

from .handshake import Handshake
from .recovery import Session

MAX_HELD = 10_000  # packets held for one restoring client; past that its restore is abandoned


@dataclass(slots=True)
class Held:
    """What was sent to a restoring client meanwhile, encoded for it, in order."""

    eio_sid: str
    frames: list[list[Any]] = field(default_factory=list)

    @property
    def overflowed(self) -> bool:
        return len(self.frames) > MAX_HELD


class Connection:
    """One namespace connection on this node.

    ``session`` is its recoverable session (None without recovery); ``recovered`` whether it
    restores one it claimed (the record is then the claim's); ``held`` is set while it
    restores; ``ending`` while the server closes it for good (its token ran out: handlers are
    told it will not come back); ``left`` is set when a reconnect of the same sid waits for
    this one to be gone."""

    __slots__ = (
        "eio_sid",
        "ending",
        "handshake",
        "held",
        "left",
        "lifetime",
        "namespace",
        "recovered",
        "session",
        "sid",
    )

    def __init__(self, sid: str, namespace: str, eio_sid: str) -> None:
        self.sid = sid
        self.namespace = namespace
        self.eio_sid = eio_sid
        self.handshake: Handshake | None = None
        self.lifetime: Lifetime | None = None
        self.session: Session | None = None
        self.recovered = False
        self.held: Held | None = None
        self.ending = False
        self.left: asyncio.Event | None = None

    def __repr__(self) -> str:
        return f"<Connection {self.sid} of {self.eio_sid} in {self.namespace}>"


@dataclass(slots=True)
class Joining:
    """A CONNECT in flight: the session begun or restored for it (None for a namespace
    without recovery), the recovery log's head when it joined (a restore replays up to
    there, the rest reaches it live), and its record: a restore's since the claim, a fresh
    one's once the manager gives it a sid."""

    session: Session | None
    head: str = ""
    record: Connection | None = None
    restoring: bool = False


class ConnectionTable:
    """The namespace connections of one node, by Socket.IO sid (node-local)."""

    def __init__(self) -> None:
        self._records: dict[str, Connection] = {}
        self.joining: dict[tuple[str, str], Joining] = {}  # (eio_sid, namespace) -> its connect
        self.held: dict[str, Held] = {}  # sid -> what is held for it (restoring clients)
        self._subjects: dict[str, dict[str, Connection]] = {}  # sub -> sid -> record

    # -- a record's life ----------------------------------------------------------------------

    def open(self, sid: str, namespace: str, eio_sid: str) -> Connection:
        """A new record for connection ``eio_sid`` of ``sid``. A record the sid still has
        (a connection a reconnect took the session from, not yet connected) is replaced:
        the newest claim of a session wins."""
        old = self._records.get(sid)
        if old is not None:
            self._unindex(old)
        record = self._records[sid] = Connection(sid, namespace, eio_sid)
        return record

    def authenticated(self, record: Connection, lifetime: Lifetime) -> None:
        record.lifetime = lifetime
        subject = lifetime.identity.subject
        if subject is not None:
            self._subjects.setdefault(subject, {})[record.sid] = record

    def hold(self, record: Connection) -> None:
        """Hold back what is sent to ``record`` from now on (its restore begins)."""
        record.held = self.held[record.sid] = Held(record.eio_sid)

    def release(self, record: Connection) -> Held | None:
        """Stop holding for ``record``: what was held, in order (None when nothing was)."""
        held, record.held = record.held, None
        if held is not None and self.held.get(record.sid) is held:
            del self.held[record.sid]
        return held

    def drop(self, sid: str, eio_sid: str) -> Connection | None:
        """Connection ``eio_sid`` of ``sid`` is gone: its record, out of the table and every
        index (None when another connection holds the sid by now). Its token's timer is the
        caller's to stop (the security layer's)."""
        record = self._records.get(sid)
        if record is None or record.eio_sid != eio_sid:
            return None
        del self._records[sid]
        self._unindex(record)
        if record.left is not None:  # a reconnect waits for this connection to be gone
            record.left.set()
        return record

    def _unindex(self, record: Connection) -> None:
        self.release(record)
        lifetime = record.lifetime
        subject = lifetime.identity.subject if lifetime is not None else None
        if subject is not None:
            sids = self._subjects.get(subject)
            if sids is not None and sids.get(record.sid) is record:
                del sids[record.sid]
                if not sids:
                    del self._subjects[subject]

    # -- lookups --------------------------------------------------------------------------------

    def get(self, sid: str) -> Connection | None:
        return self._records.get(sid)

    def of(self, sid: str, eio_sid: str) -> Connection | None:
        """``sid``'s record if connection ``eio_sid`` holds it."""
        record = self._records.get(sid)
        return record if record is not None and record.eio_sid == eio_sid else None

    def identity(self, sid: str) -> Identity | None:
        record = self._records.get(sid)
        lifetime = record.lifetime if record is not None else None
        return lifetime.identity if lifetime is not None else None

    def of_subject(self, subject: str) -> list[tuple[str, str]]:
        """``(sid, namespace)`` of every connection on this node with this ``sub``."""
        return [(sid, r.namespace) for sid, r in self._subjects.get(subject, {}).items()]

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Connection]:
        return iter(list(self._records.values()))

    def timers(self) -> int:
        """Token timers armed (tests check it matches the authenticated connections)."""
        return sum(1 for r in self._records.values() if r.lifetime and r.lifetime.timer)

    def state_size(self) -> int:
        """Entries held for connections (zero once every client has left)."""
        return len(self._records) + len(self.joining) + len(self.held) + len(self._subjects)
