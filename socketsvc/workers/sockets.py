"""One port, several processes: the listening sockets, and which worker owns a session.

The primary binds one listening socket per worker and address, all with ``SO_REUSEPORT``, so
the kernel spreads new connections evenly over the workers (by a hash of each connection's
addresses), and keeps them open: a worker that restarts gets its socket back, and the
connections that arrived for it meanwhile wait in its queue instead of being refused.

Before binding, the port is probed without ``SO_REUSEPORT``: a port another process listens on
(a second socketsvc included) is refused with "Address already in use", rather than silently
shared.

A session's id starts with its worker's :func:`tag`, two URL-safe characters, so any worker
can tell from a request which worker owns the session (:func:`owner`).
"""

from __future__ import annotations

import socket

TAG_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
TAG_VALUES = {c: i for i, c in enumerate(TAG_ALPHABET)}


def tag(index: int) -> str:
    """The session id prefix of worker ``index`` (0 to 4095)."""
    high, low = divmod(index, len(TAG_ALPHABET))
    return TAG_ALPHABET[high] + TAG_ALPHABET[low]


def owner(sid: str, workers: int) -> int | None:
    """The worker whose session ``sid`` is; None when no worker's tag starts it."""
    if len(sid) < 3:
        return None
    high, low = TAG_VALUES.get(sid[0]), TAG_VALUES.get(sid[1])
    if high is None or low is None:
        return None
    index = high * len(TAG_ALPHABET) + low
    return index if index < workers else None


def addresses(host: str, port: int) -> list[tuple[socket.AddressFamily, tuple[object, ...]]]:
    """Where to listen: every address ``host`` resolves to (all interfaces when empty)."""
    found: dict[tuple[socket.AddressFamily, tuple[object, ...]], None] = {}
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    for family, _, _, _, address in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            found[(family, tuple(address))] = None
    return list(found)


def _socket(family: socket.AddressFamily, shared: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family == socket.AF_INET6:  # as asyncio's create_server: one family per socket
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    return sock


def _probe(host: str, port: int) -> int:
    """The port to share: ``port``, or a free one for 0; OSError when it is in use."""
    for family, address in addresses(host, port):
        with _socket(family, shared=False) as probe:
            probe.bind(address)
            port = probe.getsockname()[1]
        if port != address[1]:  # port 0: the others must be free at the chosen port too
            return _probe(host, port)
    return port


def bind(host: str, port: int, workers: int, backlog: int) -> list[list[socket.socket]]:
    """For each worker, its listening sockets (one per address), inheritable, listening."""
    port = _probe(host, port)
    groups: list[list[socket.socket]] = []
    try:
        for _ in range(workers):
            group: list[socket.socket] = []
            groups.append(group)
            for family, address in addresses(host, port):
                sock = _socket(family, shared=True)
                group.append(sock)
                sock.bind(address)
                sock.listen(backlog)
                sock.set_inheritable(True)
    except OSError:
        for group in groups:
            for sock in group:
                sock.close()
        raise
    return groups
