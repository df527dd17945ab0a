"""The security checks of one node, in one object the Socket.IO server consults.

:class:`SecurityPolicy` bundles authentication (:mod:`.auth`), the limits (:mod:`.limits`) and
the origin policy (:mod:`.origins`). The transport-level ones go to the Engine.IO server as an
:class:`~socketsvc.engine.policy.EnginePolicy` when it is built; the Socket.IO server calls
the rest at three points: connect, event, disconnect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from socketsvc import errors
from socketsvc.config import Settings
from socketsvc.engine.policy import EnginePolicy
from socketsvc.security.auth import Authenticator, AuthRefused, Identity
from socketsvc.security.limits import Unlimited, Verdict, make_limits
from socketsvc.security.origins import OriginPolicy
from socketsvc.security.proxies import TrustedProxies

log = logging.getLogger("socketsvc.security")


class Refused(Exception):
    """A connect refusal; ``refusal`` is the CONNECT_ERROR payload ``{message, data: {code}}``."""

    def __init__(self, refusal: dict[str, Any]) -> None:
        super().__init__(refusal["message"])
        self.refusal = refusal


class SecurityPolicy:
    """Node-local security state: verified identities by sid, and the limiters."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.authenticator = Authenticator(settings)
        self.limits = make_limits(settings)
        self.proxies = TrustedProxies(settings.trusted_proxies)
        self.origins = OriginPolicy(settings.cors_origins, self.proxies)
        self.identities: dict[str, Identity] = {}  # socket.io sid -> verified claims
        # The rate limiter's verdict for one event: bound directly, it runs for every event;
        # None when events are not limited (rate_limit_events = 0).
        events = self.limits.events
        self.event_verdict: Callable[[str], Verdict] | None = (
            None if isinstance(events, Unlimited) else events.hit
        )

    def engine_policy(self) -> EnginePolicy:
        """The transport-level rules, for the Engine.IO server."""
        connections = self.limits.connections
        return EnginePolicy(
            allows_origin=self.origins.allows,
            client_address=self.proxies.client_address,
            connections=None if isinstance(connections, Unlimited) else connections,
            max_buffer_bytes=self.settings.max_buffer_bytes,
            body_timeout=self.settings.body_timeout,
        )

    # -- connect -------------------------------------------------------------------------------
    def admit(self, namespace: str, auth: Any, namespaces_joined: int) -> Identity | None:
        """The identity for a namespace connect, or raise :class:`Refused`."""
        limit = self.limits.max_namespaces
        if limit and namespaces_joined >= limit:
            raise Refused(
                {
                    "message": f"at most {limit} namespaces per connection",
                    "data": {"code": errors.LIMIT_EXCEEDED},
                }
            )
        try:
            return self.authenticator.authenticate(namespace, auth)
        except AuthRefused as exc:
            log.info(
                "refused connect to %s: %s", namespace, exc.code, extra={"namespace": namespace}
            )
            raise Refused(exc.refusal) from None

    def connected(self, sid: str, identity: Identity | None) -> None:
        if identity is not None:
            self.identities[sid] = identity

    def disconnected(self, sid: str | None) -> None:
        if sid is not None:
            self.identities.pop(sid, None)

    # -- events --------------------------------------------------------------------------------
    def closed(self, eio_sid: str) -> None:
        self.limits.events.forget(eio_sid)

    def state_size(self) -> int:
        """Entries held for live connections (tests check it returns to zero)."""
        return len(self.identities) + len(self.limits.events)  # type: ignore[arg-type]
