"""Run a coroutine eagerly: no asyncio task unless it really has to wait.

Most event handlers finish without ever suspending (an echo, a room emit in memory), yet
python-socketio starts a task for each event. socketsvc steps the handler's coroutine
synchronously up to its first real suspension (``coro.send(None)``), like Python 3.12's eager
tasks and like Node calling listeners in order; only then is the rest, ``resume``, handed to a
task.
"""

from __future__ import annotations

import types
from collections.abc import Coroutine, Generator
from typing import Any


@types.coroutine
def resume(coro: Coroutine[Any, Any, Any], pending: Any) -> Generator[Any, None, Any]:
    """The rest of ``coro``, which stopped at ``pending`` (what its first ``send`` yielded),
    as an awaitable for a task."""
    # The first yield hands the future ``coro`` is blocked on to the task machinery; every
    # later step forwards the task's send/throw into ``coro``.
    while True:
        try:
            try:
                yield pending
            except BaseException as exc:  # cancellation (or anything thrown into the task)
                pending = coro.throw(exc)
            else:
                pending = coro.send(None)
        except StopIteration as stop:
            return stop.value
