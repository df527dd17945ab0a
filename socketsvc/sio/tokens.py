"""What the Socket.IO layer does with the tokens of live connections.

The security layer verifies tokens and times each authenticated connection's lifetime
(:mod:`socketsvc.security.lifetimes`, kept in the connection's record); this class is the
Socket.IO side of it:

- ``auth:expiring`` ``{exp}`` to a client whose token nears its end;
- a DISCONNECT for its namespace at ``exp + jwt_leeway`` (stock clients see ``io server
  disconnect`` and do not reconnect by themselves; socketsvc's JS client gets a new token);
- ``auth:refresh`` (the one built-in event, answered before any handler, see dispatch.py): the
  new token is checked as at connect, the rooms it no longer allows are left
  (``can_join``/``on_room_revoked``), and the ack is ``{exp}`` (plus ``left``, the rooms left,
  when there are any), or an error ack with the connect refusal's code;
- closing the connections a :class:`~socketsvc.sio.disconnects.Selection` names (the
  ``/api/v1/disconnect`` route, the emitter, other nodes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, NotRequired, TypedDict

from socketsvc import protocol
from socketsvc.security.auth import AuthRefused
from socketsvc.security.policy import SecurityPolicy

from .disconnects import Selection
from .handler import Handler
from .records import ConnectionTable

log = logging.getLogger("socketsvc.server")

EXPIRING = "auth:expiring"
TOKEN_REFRESH = "auth:refresh"  # answered by the server itself, before any handler


class Expiry(TypedDict):
    """The payload of ``auth:expiring``: when the connection's token ends (``exp``, Unix time
    in seconds). Refresh before then (``auth:refresh``) or the connection is closed."""

    exp: int


class Refreshed(TypedDict):
    """The ack of ``auth:refresh``: when the new token ends, and the rooms whose access its
    claims no longer give, left (only when there are any)."""

    exp: int
    left: NotRequired[list[str]]


# send(eio_sid, packet type, namespace, data): encode in the client's format and queue.
Send = Callable[[str, int, str, Any], None]


class TokenSessions:
    """Token expiry, refresh and targeted disconnects for one server."""

    def __init__(
        self,
        security: SecurityPolicy,
        connections: ConnectionTable,
        manager: Any,
        handlers: Mapping[str, Handler],
        send: Send,
        disconnect: Callable[[str, str], Coroutine[Any, Any, None]],
        run: Callable[[Coroutine[Any, Any, Any]], Any],
    ) -> None:
        """``disconnect(sid, namespace)``: the server drops a client for good (this node;
        its session is not kept for recovery); ``run``: start a coroutine in a task of its
        own."""
        self.security = security
        self.connections = connections
        self.manager = manager
        self.handlers = handlers
        self.send = send
        self.disconnect = disconnect
        self.run = run
        security.bind(self)

    # -- lifetimes (called by security's timers) ------------------------------------------------

    def token_expiring(self, sid: str, namespace: str, expires: int) -> None:
        eio_sid = self.manager.eio_sid_from_sid(sid, namespace)
        if eio_sid is not None:
            self.send(eio_sid, protocol.EVENT, namespace, [EXPIRING, {"exp": expires}])

    def token_expired(self, sid: str, namespace: str) -> None:
        log.info(
            "closing sid=%s namespace=%s: its token expired",
            *(sid, namespace),
            extra={"sid": sid, "namespace": namespace},
        )
        self.run(self.disconnect(sid, namespace))

    # -- auth:refresh ---------------------------------------------------------------------------

    async def refresh(self, sid: str, namespace: str, args: list[Any]) -> dict[str, Any]:
        """The ack of ``auth:refresh`` with ``args``."""
        try:
            record = self.connections.get(sid)
            lifetime = record.lifetime if record is not None else None
            identity = await self.security.refresh(sid, namespace, lifetime, args)
        except AuthRefused as exc:
            return exc.to_ack()
        ack: dict[str, Any] = {"exp": identity.expires}
        left = await self._recheck_rooms(sid, namespace)
        if left:
            ack["left"] = left
        return ack

    async def _recheck_rooms(self, sid: str, namespace: str) -> list[str]:
        """Ask ``can_join`` again, with the new identity, for each room ``sid`` is in."""
        handler = self.handlers.get(namespace)
        if handler is None:
            return []
        left = []
        for room in handler.rooms_of(sid):
            if not await handler.can_join(sid, room):
                await handler.on_room_revoked(sid, room)
                left.append(room)
        return left

    # -- targeted disconnects --------------------------------------------------------------------

    def close_here(self, selection: Selection) -> int:
        """Close this node's connections matching ``selection``, each in a task of its own;
        returns how many were found."""
        matches = selection.matches(self.manager, self.connections.of_subject)
        for sid, namespace in matches:
            self.run(self.disconnect(sid, namespace))
        if matches:
            log.info(
                "closing %d connection(s) matching %s",
                len(matches),
                selection.fields(),
                extra={"namespace": selection.namespace},
            )
        return len(matches)
