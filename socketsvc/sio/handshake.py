"""What a client's connect request said, for handlers: ``self.handshake(sid)``.

The counterpart of Node's ``socket.handshake``: the headers and query of the Engine.IO
handshake request, the auth payload of this namespace's CONNECT, and the client's address as
the trusted proxies tell it (the TCP peer when there are none).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from aiohttp import web
from multidict import CIMultiDictProxy, MultiMapping

from socketsvc.security.proxies import TrustedProxies

NO_AUTH: Mapping[str, Any] = MappingProxyType({})


class Handshake:
    """One namespace connection's handshake; the same object for the whole connection.

    ``headers`` is case-insensitive and keeps repeated headers (``getall``); ``query`` is the
    handshake URL's query (``EIO``, ``transport`` and the client's own ``query`` option);
    ``auth`` is the CONNECT payload (empty when the client sent none); ``address`` is the
    client's IP after ``trusted_proxies``; ``secure`` tells whether the client reached the
    server (or its trusted proxy) over TLS; ``issued`` is the connect time (Unix seconds).

    Read-only. Kept for every connection but read by few handlers, so it holds only the
    request (which the connection keeps anyway), the auth and the time, and works out the
    rest when asked."""

    __slots__ = ("_auth", "_issued", "_proxies", "_request")

    def __init__(
        self,
        request: web.BaseRequest,
        auth: Mapping[str, Any],
        proxies: TrustedProxies,
        issued: float,
    ) -> None:
        self._request = request
        self._auth = auth or NO_AUTH
        self._proxies = proxies
        self._issued = issued

    @classmethod
    def of(
        cls, request: web.BaseRequest, auth: Mapping[str, Any], proxies: TrustedProxies
    ) -> Handshake:
        """The handshake of a namespace connect made over ``request``'s session, now."""
        return cls(request, auth, proxies, time.time())

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return self._request.headers

    @property
    def query(self) -> MultiMapping[str]:
        return self._request.query

    @property
    def auth(self) -> Mapping[str, Any]:
        return self._auth

    @property
    def address(self) -> str:
        return self._proxies.client_address(self._request)

    @property
    def secure(self) -> bool:
        request = self._request
        scheme = self._proxies.forwarded(request, "X-Forwarded-Proto") or request.scheme
        return scheme == "https"

    @property
    def url(self) -> str:
        return self._request.path_qs

    @property
    def issued(self) -> float:
        return self._issued

    def __repr__(self) -> str:
        return f"<Handshake {self.url} from {self.address} at {self.issued:.3f}>"
