"""What a client's connect request said, for handlers: ``self.handshake(sid)``.

The counterpart of Node's ``socket.handshake``: the headers and query of the Engine.IO
handshake request, the auth payload of this namespace's CONNECT, and the client's address as
the trusted proxies tell it (the TCP peer when there are none).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDictProxy, MultiMapping

from socketsvc.security.proxies import TrustedProxies


@dataclass(frozen=True, slots=True)
class Handshake:
    """One namespace connection's handshake; the same object for the whole connection.

    ``headers`` is case-insensitive and keeps repeated headers (``getall``); ``query`` is the
    handshake URL's query (``EIO``, ``transport`` and the client's own ``query`` option);
    ``auth`` is the CONNECT payload (``{}`` when the client sent none); ``address`` is the
    client's IP after ``trusted_proxies``; ``secure`` tells whether the client reached the
    server (or its trusted proxy) over TLS; ``issued`` is the connect time (Unix seconds)."""

    headers: CIMultiDictProxy[str]
    query: MultiMapping[str]
    auth: Mapping[str, Any]
    address: str
    secure: bool
    url: str
    issued: float

    @classmethod
    def of(
        cls, request: web.BaseRequest, auth: Mapping[str, Any], proxies: TrustedProxies
    ) -> Handshake:
        """The handshake of a namespace connect made over ``request``'s session."""
        scheme = proxies.forwarded(request, "X-Forwarded-Proto") or request.scheme
        return cls(
            headers=request.headers,
            query=request.query,
            auth=auth,
            address=proxies.client_address(request),
            secure=scheme == "https",
            url=request.path_qs,
            issued=time.time(),
        )
