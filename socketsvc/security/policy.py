"""The security checks of one node, in one object the Socket.IO server consults.

:class:`SecurityPolicy` bundles authentication (:mod:`.auth`), the tokens' lifetimes on live
connections (:mod:`.lifetimes`), the deny-list hook (:mod:`.revocation`), the limits
(:mod:`.limits`) and the origin policy (:mod:`.origins`). The transport-level ones go to the
Engine.IO server as an :class:`~socketsvc.engine.policy.EnginePolicy` when it is built; the
Socket.IO server calls the rest at connect, token refresh, event and disconnect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from socketsvc import errors
from socketsvc.config import Settings
from socketsvc.engine.policy import EnginePolicy
from socketsvc.security.auth import Authenticator, AuthRefused, Identity
from socketsvc.security.lifetimes import Expiry, Lifetime, TokenLifetimes
from socketsvc.security.limits import Unlimited, Verdict, make_limits
from socketsvc.security.origins import OriginPolicy
from socketsvc.security.proxies import TrustedProxies
from socketsvc.security.revocation import load_revoked

log = logging.getLogger("socketsvc.security")


class Refused(Exception):
    """A connect refusal; ``refusal`` is the CONNECT_ERROR payload ``{message, data: {code}}``."""

    def __init__(self, refusal: dict[str, Any]) -> None:
        super().__init__(refusal["message"])
        self.refusal = refusal


class SecurityPolicy:
    """Node-local security rules and state: the verifier, the token timers, the limiters."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.authenticator = Authenticator(settings)
        self.limits = make_limits(settings)
        self.proxies = TrustedProxies(settings.trusted_proxies)
        self.origins = OriginPolicy(settings.cors_origins, self.proxies)
        self.revoked = load_revoked(settings)
        self.lifetimes = TokenLifetimes(settings.token_refresh_notice, settings.jwt_leeway)
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

    def bind(self, expiry: Expiry) -> None:
        """Who closes connections whose token ran out (the Socket.IO server, once)."""
        self.lifetimes.bind(expiry)

    # -- connect -------------------------------------------------------------------------------
    def admit(self, namespace: str, auth: Any, namespaces_joined: int) -> Identity | None:
        """The identity for a namespace connect, or raise :class:`Refused`; an identity must
        then pass :meth:`not_revoked` (when :attr:`revoked` is set) before it is admitted."""
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
            raise self._refused(namespace, exc) from None

    async def not_revoked(self, namespace: str, identity: Identity) -> None:
        """Raise :class:`Refused` (``token_revoked``) when the deny-list hook says so."""
        if self.revoked is not None and await self.revoked(identity.claims):
            raise self._refused(namespace, AuthRefused(errors.TOKEN_REVOKED))

    def _refused(self, namespace: str, exc: AuthRefused) -> Refused:
        log.info("refused connect to %s: %s", namespace, exc.code, extra={"namespace": namespace})
        return Refused(exc.refusal)

    def connected(self, sid: str, namespace: str, identity: Identity) -> Lifetime:
        """A namespace connection was admitted with a token (its connect handler runs next):
        its lifetime, for the connection's record."""
        return self.lifetimes.add(sid, namespace, identity)

    def established(self, lifetime: Lifetime) -> None:
        """The client knows it is connected: its token's lifetime is enforced from now."""
        self.lifetimes.start(lifetime)

    def disconnected(self, lifetime: Lifetime) -> None:
        self.lifetimes.end(lifetime)

    # -- token refresh -------------------------------------------------------------------------
    async def refresh(
        self, sid: str, namespace: str, current: Lifetime | None, args: list[Any]
    ) -> Identity:
        """``auth:refresh`` with ``args`` (the new token) on connection ``sid`` (``current``:
        its lifetime, None when it connected without a token): its new identity, its lifetime
        renewed; or raise :class:`AuthRefused` and keep the current one."""
        try:
            if len(args) > 1 or (args and not isinstance(args[0], str | None)):
                raise AuthRefused(errors.TOKEN_INVALID)
            token = args[0] if args else None
            known = current.identity if current is not None else None
            identity = self.authenticator.reauthenticate(namespace, known, token)
            if self.revoked is not None and await self.revoked(identity.claims):
                raise AuthRefused(errors.TOKEN_REVOKED)
        except AuthRefused as exc:
            log.info(
                "refused token refresh on %s (sid=%s): %s",
                *(namespace, sid, exc.code),
                extra={"namespace": namespace, "sid": sid},
            )
            raise
        if current is None or not self.lifetimes.renew(current, identity):
            raise AuthRefused(errors.UNAUTHORIZED)  # disconnected meanwhile; nobody reads it
        return identity

    # -- events --------------------------------------------------------------------------------
    def closed(self, eio_sid: str) -> None:
        self.limits.events.forget(eio_sid)

    def state_size(self) -> int:
        """Entries held for live connections (tests check it returns to zero)."""
        return len(self.limits.events)  # type: ignore[arg-type]
