"""What a client's connect request said, for handlers: ``self.handshake(sid)``.

The counterpart of Node's ``socket.handshake``: the headers and query of the Engine.IO
handshake request, the auth payload of this namespace's CONNECT, and the client's address as
the trusted proxies tell it (the TCP peer when there are none).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDictProxy, MultiDictProxy


@dataclass(frozen=True, slots=True)
class Handshake:
    """One namespace connection's handshake; the same object for the whole connection.

    ``headers`` is case-insensitive and keeps repeated headers (``getall``); ``query`` is the
    handshake URL's query (``EIO``, ``transport`` and the client's own ``query`` option);
    ``auth`` is the CONNECT payload (``{}`` when the client sent none); ``address`` is the
    client's IP after ``trusted_proxies``; ``secure`` tells whether the client reached the
    server (or its trusted proxy) over TLS; ``issued`` is the connect time (Unix seconds)."""

    headers: CIMultiDictProxy[str]
    query: MultiDictProxy[str]
    auth: Mapping[str, Any]
    address: str
    secure: bool
    url: str
    issued: float
