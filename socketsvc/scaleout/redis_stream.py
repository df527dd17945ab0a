"""A node's side of the recovery stream (scaleout/redis_recovery.py): its kept emits go in, and
every entry, its own and the other nodes', reaches its clients in stream order, each once.

An emit is delivered to this node's clients as soon as it is in the stream, before the emit
returns (the publish API's 202): the append answers every entry from this node's position up
to the new one, and they are delivered in order at once; the reader, following the stream for
the other nodes' entries, skips what is delivered already. Appends are batched, one script
call in flight per node: its answer then holds each entry once, however many emits are
waiting (concurrent appends from one stale position would each carry the same entries again).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from socketsvc.errors import Unencodable
from socketsvc.scaleout.redis_recovery import RedisRecovery
from socketsvc.scaleout.redis_replay import Entry, ids
from socketsvc.sio.once import Once

BATCH = 256  # emits appended per script call at most

# deliver(namespace, room, skip_sid, event args): to this node's clients (FanoutManager.deliver)
Deliver = Callable[[str, Any, Any, list[Any]], None]


@dataclass
class _Emit:
    namespace: str
    room: Any
    skip_sid: Any
    args: list[Any]
    fields: dict[str, bytes]
    once: Once | None
    # its offset ("" when its once key was sent already) and what some format refused; None
    # when Redis was unreachable
    done: asyncio.Future[tuple[str, Unencodable | None] | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class StreamFeed:
    """Appends this node's kept emits and delivers the stream to its clients (module doc)."""

    def __init__(self, stream: RedisRecovery, deliver: Deliver) -> None:
        self.stream = stream
        self.deliver = deliver
        self._waiting: asyncio.Queue[_Emit] = asyncio.Queue()
        self._stopping = False

    async def emit(
        self,
        namespace: str,
        room: Any,
        skip_sid: Any,
        args: list[Any],
        fields: dict[str, bytes],
        once: Once | None,
    ) -> str | None:
        """Store one emit (``fields``: :meth:`RedisRecovery.entry`) and deliver it: its
        offset. Raises the :class:`Unencodable` of a format that refused it, after
        delivering to the others. While Redis is unreachable, this node's clients get it
        without an offset (None); when ``once`` was sent already, nothing is sent (``""``,
        and ``once.earlier`` is set)."""
        if self._stopping:
            self.deliver(namespace, room, skip_sid, args)
            return None
        emit = _Emit(namespace, room, skip_sid, args, fields, once)
        self._waiting.put_nowait(emit)
        outcome = await emit.done
        if outcome is None:
            self.deliver(namespace, room, skip_sid, args)
            return None
        offset, failure = outcome
        if failure is not None:
            raise failure
        return offset

    async def run_appender(self) -> None:
        """Append the waiting emits, a batch at a time, until :meth:`stop`."""
        while not self._stopping:
            batch = [await self._waiting.get()]
            while len(batch) < BATCH and not self._waiting.empty():
                batch.append(self._waiting.get_nowait())
            outcomes: list[tuple[str, Unencodable | None] | None] = [None] * len(batch)
            try:
                appended = await self.stream.append(
                    [(e.namespace, e.fields, e.once) for e in batch]
                )
                if appended is not None:
                    outcomes = self._delivered(batch, *appended)
            finally:
                for emit, outcome in zip(batch, outcomes, strict=True):
                    if not emit.done.done():
                        emit.done.set_result(outcome)

    def _delivered(
        self, batch: list[_Emit], offsets: list[str | None], entries: list[Entry]
    ) -> list[tuple[str, Unencodable | None] | None]:
        """Deliver an append's entries; each emit's offset and refusal."""
        stored = [offset for offset in offsets if offset is not None]
        if stored and (not entries or entries[-1][0] != stored[-1]):
            # A new stream (Redis lost the old one) whose ids are behind this node's position:
            # these emits as they are, and the position back to the new stream.
            failures: dict[str, Unencodable] = {}
            for emit, offset in zip(batch, offsets, strict=True):
                if offset is not None:
                    with contextlib.suppress(Unencodable):
                        self.deliver(emit.namespace, emit.room, emit.skip_sid, [*emit.args, offset])
            self.stream.position = stored[-1]
        else:
            failures = self.advance(entries, set(stored))
        return [
            ("", None) if offset is None else (offset, failures.get(offset)) for offset in offsets
        ]

    async def run_reader(self) -> None:
        """Deliver the other nodes' entries as they arrive, until :meth:`stop`."""
        stream = self.stream
        async for entries in stream.link.repeat(stream.read, lambda: self._stopping):
            self.advance(entries)

    def advance(self, entries: list[Entry], own: set[str] | None = None) -> dict[str, Unencodable]:
        """Deliver the entries after this node's position to its clients, in stream order,
        and move the position on. What some format cannot carry the others get (the fan-out
        logs it once); the refusals of the entries in ``own`` are returned, for their emitters."""
        failures: dict[str, Unencodable] = {}
        stream = self.stream
        position = ids(stream.position or "0-0")
        for entry_id, namespace, rooms, skip, args in entries:
            at = ids(entry_id)
            if at <= position:
                continue  # delivered already (by the reader, or an earlier append)
            try:
                self.deliver(namespace, None if rooms is None else list(rooms), list(skip), args)
            except Unencodable as exc:
                if own is not None and entry_id in own:
                    failures[entry_id] = exc
            stream.position, position = entry_id, at
        return failures

    def stop(self) -> None:
        """Stop taking emits; those still waiting are delivered here without an offset."""
        self._stopping = True
        while not self._waiting.empty():
            emit = self._waiting.get_nowait()
            if not emit.done.done():
                emit.done.set_result(None)
