"""The primary's hub: every worker of the machine connects to it over a Unix socket.

It does three things, like a small Redis of the machine's own:

- relays the bus: a worker's emits, room changes and acks reach every other worker (Node's
  cluster adapter relays through its primary in the same way);
- keeps the shared state (:mod:`.stores`): the recovery log, which gives every stored emit its
  place in one order for the whole machine and sends it to every worker (the emitting one too)
  in that order; dropped sessions; presence; the chat archive;
- carries requests between workers (``fetch_sockets``, server-side events, the machine's
  health and metrics): a request goes to every other worker, and the asker is told how many
  answers to wait for.

The hub runs no handler code: a worker that crashes takes nothing of the machine's state with
it; its live sessions become dropped ones, its presence entries go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

from socketsvc.config import Settings
from socketsvc.scaleout import bus
from socketsvc.scaleout.archive import MemoryArchive
from socketsvc.sio.once import Once, SentOnce

from .link import Kind, Link, frame, packed
from .stores import HubPresence, HubRecovery

log = logging.getLogger("socketsvc.workers")

SWEEP_SECONDS = 5.0


class Hub:
    """The hub of one machine; ``on_ready(index)`` when a worker says it serves,
    ``on_gone(index)`` when its connection closes."""

    def __init__(
        self,
        settings: Settings,
        path: str,
        on_ready: Callable[[int], None] = lambda index: None,
        on_gone: Callable[[int], None] = lambda index: None,
    ) -> None:
        self.settings = settings
        self.path = path
        self.on_ready = on_ready
        self.on_gone = on_gone
        self.recovery = HubRecovery(settings.recovery_max_packets, settings.recovery_max_bytes)
        self.presence = HubPresence()
        self.archive = MemoryArchive(settings.chat_history)
        self.sent = SentOnce()  # the machine's emits made once per key (sio/once.py)
        self.workers: dict[int, Link] = {}  # index -> its link, once it said hello
        self._index: dict[Link, int] = {}
        self._server: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # What a CALL or CAST may reach: (store, method) -> the callable, given the worker's
        # index first where the store tracks who did what.
        names = self.presence.names
        recovery, archive, presence = self.recovery, self.archive, self.presence
        self.methods: dict[tuple[str, str], tuple[Callable[..., Any], bool]] = {
            ("recovery", "track"): (recovery.track, True),
            ("recovery", "persist"): (recovery.persist, True),
            ("recovery", "forget"): (recovery.forget, True),
            ("recovery", "claim"): (recovery.claim, True),
            ("recovery", "pending"): (recovery.pending, False),
            ("recovery", "resumable"): (recovery.resumable, False),
            ("recovery", "missed"): (recovery.missed, False),
            ("presence", "add"): (presence.add, True),
            ("presence", "remove"): (presence.remove, True),
            ("presence", "name_of"): (names.name_of, False),
            ("presence", "members"): (names.members, False),
            ("presence", "has"): (names.has, False),
            ("archive", "append"): (archive.append, False),
            ("archive", "recent"): (archive.recent, False),
            ("once", "first"): (self._first, False),
        }

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(
            lambda: Link(self._on_frame, self._lost), self.path
        )
        os.chmod(self.path, 0o600)
        self._sweeper = loop.call_later(SWEEP_SECONDS, self._sweep)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            self._server.close()
        for link in list(self._index):
            link.close()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _sweep(self) -> None:
        self.recovery.sweep()
        with contextlib.suppress(RuntimeError):  # the loop is closing
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_SECONDS, self._sweep)

    # -- frames ---------------------------------------------------------------------------------

    def _on_frame(self, link: Link, kind: Kind, payload: bytes) -> None:
        index = self._index.get(link)
        if index is None:
            if kind is Kind.HELLO:
                self._hello(link, payload)
            return
        if kind is Kind.BUS:
            relayed = frame(Kind.BUS, payload)
            for other, peer in self.workers.items():
                if other != index:
                    peer.send(relayed, droppable=True)
        elif kind is Kind.APPEND:
            self._append(index, payload)
        elif kind is Kind.CAST or kind is Kind.CALL:
            self._run(link, index, kind, bus.unpack(payload))
        elif kind is Kind.ASK:
            self._ask(index, payload)
        elif kind is Kind.ANSWER:
            asker, rid, value = bus.unpack(payload)
            target = self.workers.get(asker)
            if target is not None:
                target.send(packed(Kind.ANSWER, [rid, value]))
        elif kind is Kind.READY:
            self.on_ready(index)

    def _hello(self, link: Link, payload: bytes) -> None:
        index, pid = bus.unpack(payload)
        old = self.workers.get(index)
        if old is not None:  # a restarted worker whose predecessor's link is still closing
            self._forget(old)
            old.close()
            self._gone(index)
        self.workers[index] = link
        self._index[link] = index
        log.debug("worker %d (pid %d) joined the hub", index, pid)
        link.send(packed(Kind.HELLO, [self.recovery.epoch, self.recovery.last]))

    def _first(self, namespace: str, key: str, answer: bytes, seconds: float) -> list[Any] | None:
        """None when an emit made once per ``key`` is the first (recorded now), else
        ``[the first one's answer]`` (packed as the worker sent it)."""
        once = Once(key, answer, seconds)
        return None if self.sent.first(namespace, once) else [once.earlier]

    def _append(self, index: int, payload: bytes) -> None:
        """A stored emit: checked against its once key and appended in one step."""
        namespace, rooms, skip, window, args, once = bus.unpack(payload)
        if once is not None:
            earlier = self._first(namespace, *once)
            if earlier is not None:
                self.workers[index].send(packed(Kind.SENT, earlier))
                return
        entry = self.recovery.append(namespace, rooms, skip, window, args)
        out = packed(
            Kind.ENTRY,
            [
                entry.number,
                namespace,
                None if entry.rooms is None else list(entry.rooms),
                list(entry.skip),
                args,
                index,
            ],
        )
        for peer in self.workers.values():
            peer.send(out)

    def _run(self, link: Link, index: int, kind: Kind, message: Any) -> None:
        call_id = None
        if kind is Kind.CALL:
            call_id, store, method, args = message
        else:
            store, method, args = message
        target = self.methods.get((store, method))
        if target is None:
            log.warning("worker %d called an unknown %s.%s", index, store, method)
            if call_id is not None:
                link.send(packed(Kind.RESULT, [call_id, None]))
            return
        function, by_worker = target
        try:
            result = function(index, *args) if by_worker else function(*args)
        except Exception:
            log.exception("%s.%s of worker %d failed", store, method, index)
            result = None
        if not asyncio.iscoroutine(result):
            self._reply(link, call_id, result)
            return
        # The stores' coroutines never wait: tasks run (and answer) in arrival order.
        task = asyncio.get_running_loop().create_task(result)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda t: self._reply(link, call_id, _outcome(t)))

    def _reply(self, link: Link, call_id: Any, value: Any) -> None:
        if call_id is not None:
            link.send(packed(Kind.RESULT, [call_id, value]))

    def _ask(self, asker: int, payload: bytes) -> None:
        rid, body = bus.unpack(payload)
        out = packed(Kind.ASK, [asker, rid, body])
        others = [peer for index, peer in self.workers.items() if index != asker]
        if rid is not None:
            self.workers[asker].send(packed(Kind.COUNT, [rid, len(others)]))
        for peer in others:
            peer.send(out)

    # -- workers come and go ----------------------------------------------------------------------

    def _lost(self, link: Link) -> None:
        index = self._index.get(link)
        self._forget(link)
        if index is not None and index not in self.workers:
            self._gone(index)

    def _gone(self, index: int) -> None:
        """What worker ``index`` held on behalf of its clients: sessions kept as dropped,
        presence entries removed."""
        self.recovery.worker_gone(index)
        task = asyncio.get_running_loop().create_task(self.presence.worker_gone(index))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.on_gone(index)

    def _forget(self, link: Link) -> None:
        index = self._index.pop(link, None)
        if index is not None and self.workers.get(index) is link:
            del self.workers[index]


def _outcome(task: asyncio.Task[Any]) -> Any:
    if task.cancelled():
        return None
    if task.exception() is not None:
        log.error("a store call failed", exc_info=task.exception())
        return None
    return task.result()
