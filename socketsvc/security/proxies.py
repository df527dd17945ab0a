"""Who the client is behind a reverse proxy: ``X-Forwarded-*`` only from ``trusted_proxies``.

A direct client can write any ``X-Forwarded-For`` it likes, so the header is read only when the
TCP peer is a configured proxy; then the client is the right-most address in the chain that is
not itself a trusted proxy (each proxy appends the address it saw).
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from socketsvc.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    def __init__(self, entries: tuple[str, ...]) -> None:
        self.networks: list[Network] = []
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ConfigError(
                    f"trusted_proxies: {entry!r} is not an IP address or CIDR"
                ) from None

    def trusts(self, address: str | None) -> bool:
        if not self.networks or not address:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def client_address(self, request: web.BaseRequest) -> str:
        """The client's IP: the TCP peer, or what trusted proxies say it is."""
        peer = request.remote or ""
        if not self.trusts(peer):
            return peer
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
        client = peer
        for hop in reversed(hops[-32:]):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                break  # a garbled hop: trust nothing further left
            client = hop
            if not self.trusts(hop):
                break
        return client

    def forwarded(self, request: web.BaseRequest, header: str) -> str | None:
        """The first value of a ``X-Forwarded-<header>`` a trusted proxy set, else None."""
        if not self.trusts(request.remote):
            return None
        value = request.headers.get(header)
        return value.split(",")[0].strip() if value else None
