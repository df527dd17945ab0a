"""Every request of a session reaches the worker that owns it.

The kernel gives each new connection to some worker. A request for a session of another
worker (its ``sid`` says whose: :func:`~.sockets.owner`) is not served here: the connection
itself is handed over to the owner, with the request, through a Unix socket (the file
descriptor travels as ``SCM_RIGHTS``), and the owner serves it, and whatever else comes on that
connection, as if it had accepted it. Routing is per request, so a browser that reuses one
keep-alive connection for the sessions of several workers is handed back and forth (Node's
``@socket.io/sticky`` routes only a connection's first request and breaks there).

Why hand over rather than forward: the owner sees the client's own address (for
``trusted_proxies``, ``max_connections_per_ip`` and the handshake), a websocket upgrade needs
no proxying for the rest of its life, and nothing is copied twice.

The request is handed over whole: its head as it came, and its body (read here first, up to
``max_payload`` within ``body_timeout``, then sent with a ``Content-Length``). Engine.IO
clients send a request only after the answer to the one before, so nothing else is in flight
on the connection. When the owner cannot be reached (it is restarting), the request is served
here: its session is unknown here, the client gets Engine.IO's "Session ID unknown" and
reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from .sockets import owner

log = logging.getLogger("socketsvc.workers")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LENGTH = 4  # bytes of the size that precedes a handed-over request
SKIPPED_HEADERS = frozenset({b"content-length", b"transfer-encoding"})
ACCEPT_WAIT = 5.0  # seconds a handing-over worker may take to send the request


def handoff_path(rundir: str, index: int) -> str:
    return os.path.join(rundir, f"handoff-{index}.sock")


def route_to_owner(
    index: int, workers: int, rundir: str, engine_path: str, body_timeout: float
) -> Middleware:
    """An aiohttp middleware: requests for another worker's session are handed over."""

    @web.middleware
    async def route(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == engine_path:
            sid = request.query.get("sid")
            target = owner(sid, workers) if sid else None
            if target is not None and target != index:
                path = handoff_path(rundir, target)
                if await hand_over(request, path, body_timeout):
                    return web.Response(status=204)  # never written: the connection is gone
        return await handler(request)

    return route


def request_bytes(request: web.Request, body: bytes) -> bytes:
    """The request as the client sent it (its body, if any, with a Content-Length)."""
    version = request.version
    lines = [f"{request.method} {request.raw_path} HTTP/{version.major}.{version.minor}".encode()]
    for name, value in request.raw_headers:
        if name.lower() not in SKIPPED_HEADERS:
            lines.append(name + b": " + value)
    if body or request.method not in ("GET", "HEAD", "OPTIONS"):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def hand_over(request: web.Request, path: str, body_timeout: float) -> bool:
    """Send ``request``'s connection to the worker listening on ``path``; False (and
    the connection still here) when it cannot be reached."""
    transport = request.transport
    if transport is None or transport.is_closing():
        return False
    body = b""
    if request.body_exists:
        try:
            async with asyncio.timeout(body_timeout or None):
                body = await request.read()
        except TimeoutError:
            raise web.HTTPRequestTimeout(text="body: not received within body_timeout") from None
    raw = request_bytes(request, body)
    transport.pause_reading()  # what comes next on the connection is the owner's to read
    loop = asyncio.get_running_loop()
    channel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    channel.setblocking(False)
    try:
        await loop.sock_connect(channel, path)
        connection = transport.get_extra_info("socket")
        socket.send_fds(channel, [len(raw).to_bytes(LENGTH, "big")], [connection.fileno()])
        await loop.sock_sendall(channel, raw)
    except OSError as exc:
        log.info("cannot hand a connection over to %s: %s", path, exc)
        transport.resume_reading()
        return False
    finally:
        channel.close()
    # The owner holds the connection now. Closing it here only lets go of this process's
    # descriptor: no FIN, no RST, and nothing of it is read or written here any more.
    request.protocol.force_close()
    return True


class HandoffSite(web.BaseSite):
    """Where a worker takes over connections from the others (a Unix socket at ``path``),
    stopped with the runner's other sites."""

    def __init__(self, runner: web.BaseRunner, path: str) -> None:
        super().__init__(runner)
        self.path = path
        self.runner = runner
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return f"unix:{self.path}"

    async def start(self) -> None:
        await super().start()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # left by a worker that died in this seat
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        listener.listen(128)
        listener.setblocking(False)
        self._listener = listener
        self._accepting = asyncio.get_running_loop().create_task(self._accept())

    async def stop(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            await asyncio.wait([self._accepting])
        if self._listener is not None:
            self._listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        for task in list(self._tasks):
            task.cancel()
        await super().stop()

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._listener is not None
        while True:
            channel, _ = await loop.sock_accept(self._listener)
            task = loop.create_task(self._take(channel))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _take(self, channel: socket.socket) -> None:
        fds: list[int] = []
        try:
            async with asyncio.timeout(ACCEPT_WAIT):
                head, fds = await _receive_fd(channel)
                size = int.from_bytes(head, "big") if len(head) == LENGTH else -1
                if len(fds) != 1 or size < 0:
                    raise ConnectionError("no connection in the handover")
                data = b""
                while len(data) < size:
                    chunk = await asyncio.get_running_loop().sock_recv(channel, size - len(data))
                    if not chunk:
                        raise ConnectionError("the handover broke off")
                    data += chunk
            connection = socket.socket(fileno=fds.pop())
            await self._serve(connection, data)
        except (OSError, TimeoutError) as exc:
            log.warning("a connection handed over was lost: %s", exc)
        finally:
            channel.close()
            for fd in fds:
                os.close(fd)

    async def _serve(self, connection: socket.socket, data: bytes) -> None:
        """Serve ``connection`` as one this worker accepted, its first request ``data``."""
        server = self.runner.server
        if server is None:  # shutting down
            connection.close()
            return
        loop = asyncio.get_running_loop()
        _, protocol = await loop.connect_accepted_socket(server, connection)
        protocol.data_received(data)


async def _receive_fd(channel: socket.socket) -> tuple[bytes, list[int]]:
    """The first bytes of ``channel`` and the descriptor sent with them."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(channel, LENGTH, 1)
            return message, fds
        except BlockingIOError:
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(channel.fileno(), _settle, readable)
            try:
                await readable
            finally:
                loop.remove_reader(channel.fileno())


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
