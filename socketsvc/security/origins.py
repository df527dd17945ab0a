"""Which web pages may open a connection: the ``Origin`` check on every Engine.IO request.

Browsers send ``Origin`` on cross-site XHR/fetch and on every websocket handshake, and a
websocket is not protected by CORS at all, so the server itself must refuse foreign origins
(cross-site websocket hijacking). Requests without ``Origin`` come from non-browser clients
(Node, Python, mobile) and are allowed: they can send any header they like anyway.

``cors_origins`` empty means same origin only: the page must come from the scheme and host the
request was sent to (as told by ``X-Forwarded-Proto``/``-Host`` only when a trusted proxy says
so). ``*`` allows any origin. Refusals are 403 and logged once per origin.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web

from socketsvc.errors import ConfigError
from socketsvc.security.proxies import TrustedProxies

log = logging.getLogger("socketsvc.security.origins")

ORIGIN = re.compile(r"^(?:https?)://[^/\s?#]+$", re.IGNORECASE)
MAX_LOGGED_ORIGINS = 1000  # attacker-chosen strings must not grow memory without bound


def normalize(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


class OriginPolicy:
    def __init__(self, cors_origins: tuple[str, ...], proxies: TrustedProxies) -> None:
        self.any = "*" in cors_origins
        self.allowed: set[str] = set()
        for entry in cors_origins:
            if entry == "*":
                continue
            if not ORIGIN.match(entry.rstrip("/")):
                raise ConfigError(
                    f"cors_origins: {entry!r} is not an origin like 'https://app.example.com'"
                )
            self.allowed.add(normalize(entry))
        self.proxies = proxies
        self._logged: set[str] = set()

    def allows(self, request: web.BaseRequest) -> bool:
        origin = request.headers.get("Origin")
        if origin is None or self.any:
            return True
        origin = normalize(origin)
        if origin in self.allowed or origin == self.own_origin(request):
            return True
        self._log_refusal(origin, request)
        return False

    def own_origin(self, request: web.BaseRequest) -> str:
        scheme = self.proxies.forwarded(request, "X-Forwarded-Proto") or request.scheme
        host = self.proxies.forwarded(request, "X-Forwarded-Host") or request.host
        return normalize(f"{scheme}://{host}")

    def _log_refusal(self, origin: str, request: web.BaseRequest) -> None:
        if origin in self._logged:
            return
        if len(self._logged) < MAX_LOGGED_ORIGINS:
            self._logged.add(origin)
            log.warning(
                "refused origin %r (peer %s): not in cors_origins; further requests from it "
                "are refused silently",
                origin[:200],
                request.remote,
                extra={"client": request.remote},
            )
        elif len(self._logged) == MAX_LOGGED_ORIGINS:
            self._logged.add("")
            log.warning("more than %d refused origins; no longer logging them", MAX_LOGGED_ORIGINS)
