"""``socketsvc serve --workers N``: the primary process of a machine.

It binds the port (:mod:`.sockets`), runs the hub the workers share (:mod:`.hub`), starts N
worker processes and keeps them running: a worker that dies is started again (after 0.5 s,
doubling up to 10 s while it keeps dying within a minute), with the same listening sockets,
and its clients are recovered by whichever worker they reconnect to. It runs no handler code.

Start-up fails as a whole: a worker that exits before every worker serves (a handler module
that does not import, say) stops the others, and its exit status is the primary's.

SIGTERM or SIGINT: the listening sockets are closed, every worker drains as a single node does
(its clients are closed within ``shutdown_grace``), and a worker still running
:data:`STOP_MARGIN` seconds later is killed. The hub outlives the workers, so what they keep
for recovery while they drain is kept. The primary exits once no worker is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import socket
import sys
import tempfile
from typing import Any

from yarl import URL

from socketsvc.config import Settings
from socketsvc.config.derived import node_name

from .hub import Hub
from .sockets import bind
from .worker import hub_path, spec_of

log = logging.getLogger("socketsvc.workers")

RESTART_FIRST = 0.5  # seconds before a dead worker is started again
RESTART_MOST = 10.0
STABLE = 60.0  # a worker that ran this long starts again after RESTART_FIRST
STOP_MARGIN = 5.0  # seconds past shutdown_grace before a draining worker is killed


class Primary:
    """The workers of one machine, on one port."""

    def __init__(self, settings: Settings, backlog: int, module: str) -> None:
        """``backlog``: each listening socket's; ``module``: what a worker process runs
        (``python -m module``, the spec on its standard input)."""
        self.settings = settings
        self.backlog = backlog
        self.module = module
        self.count = settings.workers
        self.node = node_name(settings)
        self.stop = asyncio.Event()
        self.stopping = False
        self.groups: list[list[socket.socket]] = []
        self.rundir = ""
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        self.ready = [asyncio.Event() for _ in range(self.count)]
        self.failed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.started = False

    async def run(self) -> int:
        """Serve until a termination signal; the exit status."""
        settings = self.settings
        self.groups = bind(settings.host, settings.port, self.count, self.backlog)
        self.rundir = tempfile.mkdtemp(prefix="socketsvc-")
        log.debug("workers' sockets in %s", self.rundir)
        hub = Hub(settings, hub_path(self.rundir), on_ready=self._ready)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        supervisors: list[asyncio.Task[None]] = []
        status = 0
        try:
            await hub.start()
            supervisors = [asyncio.create_task(self._supervise(i)) for i in range(self.count)]
            status = await self._start_up()
            if status == 0 and not self.stop.is_set():
                self.started = True
                log.info(
                    "socketsvc listening on %s (workers=%d, serializer=%s)",
                    self.url(),
                    self.count,
                    settings.serializer,
                )
                await self.stop.wait()
            log.info("shutting down %d workers", self.count)
        finally:
            await self._shut_down(supervisors)
            await hub.stop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            shutil.rmtree(self.rundir, ignore_errors=True)
        log.info("stopped")
        return status

    def url(self) -> str:
        host, port = self.groups[0][0].getsockname()[:2]
        return str(URL.build(scheme="http", host=host, port=port))

    def _ready(self, index: int) -> None:
        self.ready[index].set()
        if self.started:
            log.info("worker %d serves again", index)

    async def _start_up(self) -> int:
        """0 once every worker serves (or a signal came first); else the exit status of the
        worker that could not start."""
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(e.wait()) for e in self.ready]
        stopped: asyncio.Future[Any] = asyncio.ensure_future(self.stop.wait())
        failed: asyncio.Future[Any] = asyncio.ensure_future(asyncio.shield(self.failed))
        try:
            pending: set[asyncio.Future[Any]] = {*waits, stopped, failed}
            while any(not w.done() for w in waits) and not stopped.done() and not failed.done():
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (*waits, stopped, failed):
                future.cancel()
        if self.failed.done():
            return self.failed.result() or 1
        return 0

    # -- the workers ----------------------------------------------------------------------------

    async def _spawn(self, index: int) -> asyncio.subprocess.Process:
        fds = [sock.fileno() for sock in self.groups[index]]
        spec = spec_of(
            self.settings,
            index=index,
            workers=self.count,
            rundir=self.rundir,
            fds=fds,
            node=self.node,
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self.module,
            stdin=asyncio.subprocess.PIPE,
            pass_fds=fds,
        )
        assert process.stdin is not None
        process.stdin.write(spec.encode())
        with contextlib.suppress(ConnectionError):
            await process.stdin.drain()
        process.stdin.close()
        self.processes[index] = process
        return process

    async def _supervise(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        delay = RESTART_FIRST
        while not self.stopping:
            began = loop.time()
            process = await self._spawn(index)
            status = await process.wait()
            self.ready[index].clear()
            if self.stopping:
                return
            if not self.started:
                log.error("worker %d could not start (exit status %s)", index, status)
                if not self.failed.done():
                    self.failed.set_result(status)
                return
            if loop.time() - began > STABLE:
                delay = RESTART_FIRST
            log.error(
                "worker %d (pid %d) exited with status %s; starting it again in %.1f s",
                index,
                process.pid,
                status,
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), delay)
            delay = min(delay * 2, RESTART_MOST)

    async def _shut_down(self, supervisors: list[asyncio.Task[None]]) -> None:
        """Close the port, drain every worker, kill those that overrun."""
        self.stopping = True
        for group in self.groups:
            for sock in group:
                sock.close()
        running = [p for p in self.processes.values() if p.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        waits = [asyncio.ensure_future(p.wait()) for p in running]
        if waits:
            _, late = await asyncio.wait(waits, timeout=self.settings.shutdown_grace + STOP_MARGIN)
            for process in running:
                if process.returncode is None:
                    log.error("worker (pid %d) did not drain in time: killed", process.pid)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            if late:
                await asyncio.wait(late, timeout=STOP_MARGIN)
        for index, process in self.processes.items():
            log.debug(
                "worker %d (pid %d) exited with status %s", index, process.pid, process.returncode
            )
        for task in supervisors:
            task.cancel()
        if supervisors:
            await asyncio.wait(supervisors, timeout=1.0)


def run_primary(settings: Settings, backlog: int, module: str) -> int:
    """The CLI's ``serve`` with ``workers`` > 1: an exit status (see :class:`Primary`)."""

    async def main() -> int:
        return await Primary(settings, backlog, module).run()

    try:
        return asyncio.run(main())
    except OSError as exc:
        print(
            f"socketsvc: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr
        )
        return 1
