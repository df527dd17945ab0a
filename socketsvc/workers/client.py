"""A worker's connection to the primary's hub (see :mod:`.hub`).

Calls to the hub's stores are answered in the order they were sent, so a worker always reads
its own writes. A stored emit is placed in the recovery log's one order before
:meth:`HubClient.append` returns (its entry has come back), as an XADD is on Redis: an emit
that a handler awaited comes before any emit that starts after it, on any worker. Requests
to the other workers (``ask``) wait for as many answers as the hub says it asked for. When
the connection is lost the primary is gone: calls answer their default, and the worker shuts
down (see :mod:`.worker`).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import os
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from socketsvc import errors
from socketsvc.errors import ClusterTimeout, Unencodable, UnsupportedValue
from socketsvc.scaleout import bus

from .link import Kind, Link, frame, packed

log = logging.getLogger("socketsvc.workers")

CONNECT_WAIT = 10.0  # seconds to reach the hub at start-up
Answerer = Callable[[Any], Coroutine[Any, Any, Any]]


@dataclass(frozen=True)
class Appended:
    """What became of a stored emit: ``placed`` in the log (its entry came back), or not:
    the hub is gone, or ``earlier`` holds the answer of the first emit of its once key."""

    placed: bool
    earlier: Any = None
    sent_before: bool = False


GONE = Appended(False)
PLACED = Appended(True)


class _Asked:
    __slots__ = ("answers", "count", "done")

    def __init__(self) -> None:
        self.count: int | None = None
        self.answers: list[Any] = []
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def settle(self) -> None:
        if self.count is not None and len(self.answers) >= self.count and not self.done.done():
            self.done.set_result(None)


class HubClient:
    """Worker ``index``'s link to the hub: the bus, store calls, and requests to the others."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.link: Link | None = None
        self.epoch = ""
        self.first = 0  # the recovery log's last offset number when this worker joined
        self.lost = asyncio.Event()
        self.answerers: dict[str, Answerer] = {}  # ask kind -> what answers it here
        self.on_bus: Callable[[bytes], None] = lambda raw: None
        self.on_entry: Callable[[Any], None] = lambda entry: None
        self._hello: asyncio.Future[Any] | None = None
        self._ids = itertools.count()
        self._calls: dict[int, tuple[asyncio.Future[Any], Any]] = {}
        self._appended: collections.deque[asyncio.Future[Appended]] = collections.deque()
        self._asked: dict[str, _Asked] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle --------------------------------------------------------------------------------

    async def connect(self, path: str) -> None:
        loop = asyncio.get_running_loop()
        self._hello = loop.create_future()
        async with asyncio.timeout(CONNECT_WAIT):
            _, link = await loop.create_unix_connection(
                lambda: Link(self._on_frame, self._lost), path
            )
            self.link = link
            link.send(packed(Kind.HELLO, [self.index, os.getpid()]))
            self.epoch, self.first = await self._hello

    def ready(self) -> None:
        if self.link is not None:
            self.link.send(frame(Kind.READY, b""))

    def close(self) -> None:
        if self.link is not None:
            self.link.close()

    def problem(self) -> str | None:
        return "workers: the primary process is gone" if self.lost.is_set() else None

    @property
    def open(self) -> bool:
        return self.link is not None and self.link.open

    # -- out --------------------------------------------------------------------------------------

    def send_bus(self, raw: bytes) -> bool:
        """A bus message for every other worker; False when it was dropped."""
        link = self.link
        return link is not None and link.send(frame(Kind.BUS, raw), droppable=True)

    def cast(self, store: str, method: str, *args: Any) -> None:
        if self.link is not None:
            self.link.send(packed(Kind.CAST, [store, method, list(args)]))

    async def call(self, store: str, method: str, *args: Any, default: Any = None) -> Any:
        """The hub store's answer; ``default`` when the hub is gone."""
        link = self.link
        if link is None or not link.open:
            return default
        call_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = (future, default)
        link.send(packed(Kind.CALL, [call_id, store, method, list(args)]))
        return await future

    async def append(self, message: list[Any]) -> Appended:
        """A stored emit for the recovery log (``[namespace, rooms, skip, window, args,
        once]``, see :class:`~.link.Kind`): placed once its entry came back (in order with
        this worker's other appends); not placed when the hub is gone or its once key was
        sent already."""
        link = self.link
        if link is None or not link.send(packed(Kind.APPEND, message)):
            return GONE
        placed: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        self._appended.append(placed)
        return await placed

    def tell(self, body: dict[str, Any]) -> None:
        """A request to every other worker that wants no answer."""
        if self.link is not None:
            self.link.send(packed(Kind.ASK, [None, body]))

    async def ask(self, body: dict[str, Any], what: str, timeout: float) -> list[Any]:
        """Every other worker's answer to ``body``; :class:`ClusterTimeout` (with the answers
        that came) when not all arrive within ``timeout`` seconds."""
        link = self.link
        if link is None or not link.open:
            return []
        rid = secrets.token_hex(8)
        asked = self._asked[rid] = _Asked()
        try:
            link.send(packed(Kind.ASK, [rid, body]))
            try:
                await asyncio.wait_for(asyncio.shield(asked.done), timeout)
            except TimeoutError:
                expected = asked.count if asked.count is not None else len(asked.answers) + 1
                raise ClusterTimeout(what, len(asked.answers), expected, asked.answers) from None
        finally:
            self._asked.pop(rid, None)
        return asked.answers

    # -- in ---------------------------------------------------------------------------------------

    def _on_frame(self, link: Link, kind: Kind, payload: bytes) -> None:
        if kind is Kind.BUS:
            self.on_bus(payload)
        elif kind is Kind.ENTRY:
            *entry, appender = bus.unpack(payload)
            self.on_entry(entry)
            if appender == self.index:
                self._settle_append(PLACED)
        elif kind is Kind.SENT:
            (earlier,) = bus.unpack(payload)
            self._settle_append(Appended(False, earlier, sent_before=True))
        elif kind is Kind.RESULT:
            call_id, value = bus.unpack(payload)
            future, _ = self._calls.pop(call_id, (None, None))
            if future is not None and not future.done():
                future.set_result(value)
        elif kind is Kind.ASK:
            self._answer(*bus.unpack(payload))
        elif kind is Kind.COUNT or kind is Kind.ANSWER:
            rid, value = bus.unpack(payload)
            asked = self._asked.get(rid)
            if asked is not None:
                if kind is Kind.COUNT:
                    asked.count = value
                else:
                    asked.answers.append(value)
                asked.settle()
        elif kind is Kind.HELLO and self._hello is not None and not self._hello.done():
            self._hello.set_result(bus.unpack(payload))

    def _settle_append(self, outcome: Appended) -> None:
        """The oldest append waiting (the hub answers this worker's appends in order)."""
        if self._appended:
            placed = self._appended.popleft()
            if not placed.done():
                placed.set_result(outcome)

    def _answer(self, asker: int, rid: str | None, body: Any) -> None:
        kind = body.get("kind") if isinstance(body, dict) else None
        answerer = self.answerers.get(kind) if isinstance(kind, str) else None
        if answerer is None:
            if rid is not None:
                self._reply(asker, rid, None)
            return
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(answerer(body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if rid is not None:
            task.add_done_callback(lambda t: self._reply(asker, rid, _value(t)))

    def _reply(self, asker: int, rid: str, value: Any) -> None:
        if self.link is None:
            return
        try:
            self.link.send(packed(Kind.ANSWER, [asker, rid, value]))
        except (Unencodable, UnsupportedValue) as exc:
            ack = errors.error_ack(errors.UNENCODABLE, f"the answer cannot cross: {exc}")
            self.link.send(packed(Kind.ANSWER, [asker, rid, ack]))

    def _lost(self, link: Link) -> None:
        self.lost.set()
        for future, default in self._calls.values():
            if not future.done():
                future.set_result(default)
        self._calls.clear()
        while self._appended:
            placed = self._appended.popleft()
            if not placed.done():
                placed.set_result(GONE)
        for asked in self._asked.values():
            if not asked.done.done():
                asked.done.set_result(None)
        if self._hello is not None and not self._hello.done():
            self._hello.set_exception(ConnectionError("the hub closed the connection"))


def _value(task: asyncio.Task[Any]) -> Any:
    if task.cancelled():
        return None
    exc = task.exception()
    if exc is not None:
        log.error("answering another worker failed", exc_info=exc)
        return errors.error_ack(errors.INTERNAL, "internal server error")
    return task.result()
