"""The WSGI-style ``environ`` that python-engineio and python-socketio hand to applications,
as a read-only view of the aiohttp request instead of a copied dict.

Every connection keeps its environ for its whole life (``on_connect`` gets it, and
``server.get_environ(sid)`` returns it later). A dict with the WSGI keys plus one ``HTTP_*``
key per header costs over a kilobyte per connection; this view costs a few dozen bytes, and
its values are derived from the request, which the connection keeps alive anyway.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from aiohttp import web
from multidict import MultiMapping

# What engineio's translate_request sets, derived from the request on access.
_FIXED: dict[str, Callable[[web.BaseRequest], Any]] = {
    "wsgi.input": lambda r: r.content,
    "wsgi.errors": lambda r: sys.stderr,
    "wsgi.version": lambda r: (1, 0),
    "wsgi.async": lambda r: True,
    "wsgi.multithread": lambda r: False,
    "wsgi.multiprocess": lambda r: False,
    "wsgi.run_once": lambda r: False,
    "SERVER_SOFTWARE": lambda r: "aiohttp",
    "REQUEST_METHOD": lambda r: r.method,
    "QUERY_STRING": lambda r: r.query_string or "",
    "RAW_URI": lambda r: r.path_qs,
    "SERVER_PROTOCOL": lambda r: f"HTTP/{r.version[0]}.{r.version[1]}",
    "REMOTE_PORT": lambda r: "0",
    "SERVER_NAME": lambda r: "aiohttp",
    "SERVER_PORT": lambda r: "0",
    "aiohttp.request": lambda r: r,
    "PATH_INFO": lambda r: r.path,
    "SCRIPT_NAME": lambda r: "",
    "wsgi.url_scheme": lambda r: ",".join(r.headers.getall("X-Forwarded-Proto", [])) or "http",
}
_BODY_HEADERS = {"CONTENT_TYPE": "Content-Type", "CONTENT_LENGTH": "Content-Length"}


def _key(header: str) -> str:
    upper = header.upper()
    if upper in ("CONTENT-TYPE", "CONTENT-LENGTH"):
        return upper.replace("-", "_")
    return "HTTP_" + upper.replace("-", "_")


def _peer(request: web.BaseRequest) -> str:
    return request.remote or ""


class RequestEnviron(Mapping[str, Any]):
    """``translate_request(request)`` of python-engineio's aiohttp driver, computed lazily.

    Same keys and values: repeated headers are joined with commas, ``CONTENT_TYPE`` and
    ``CONTENT_LENGTH`` carry no ``HTTP_`` prefix. Except ``REMOTE_ADDR``, which the driver
    always sets to 127.0.0.1: here it is the client's address as ``client_address`` tells it
    (the TCP peer, or what trusted proxies say). Read-only; ``copy()`` gives a plain dict.
    """

    __slots__ = ("client_address", "request")

    def __init__(
        self,
        request: web.BaseRequest,
        client_address: Callable[[web.BaseRequest], str] = _peer,
    ) -> None:
        self.request = request
        self.client_address = client_address

    def __getitem__(self, key: str) -> Any:
        fixed = _FIXED.get(key)
        if fixed is not None:
            return fixed(self.request)
        if key == "REMOTE_ADDR":
            return self.client_address(self.request)
        headers = self.request.headers
        if key in _BODY_HEADERS:
            values = headers.getall(_BODY_HEADERS[key], [])
            if values:
                return values[-1]  # translate_request keeps the last one
        elif key.startswith("HTTP_"):
            # Fast path: the usual spelling (dashes); else any header that maps to ``key``.
            values = headers.getall(key[5:].replace("_", "-"), []) or [
                v for k, v in headers.items() if _key(k) == key
            ]
            if values:
                return ",".join(values)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        seen = dict.fromkeys(_FIXED)
        seen["REMOTE_ADDR"] = None
        for header in self.request.headers:
            seen[_key(header)] = None
        return iter(seen)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, Any]:
        return dict(self.items())

    def __repr__(self) -> str:
        return f"<RequestEnviron {self.request.method} {self.request.path_qs}>"


def first_value(query: MultiMapping[str], name: str) -> str | None:
    """The first non-empty value of ``name`` (``urllib.parse.parse_qs`` drops empty ones,
    and Node treats ``sid=`` as no sid)."""
    for value in query.getall(name, ()):
        if value:
            return value
    return None
