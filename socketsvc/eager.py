"""Run a coroutine eagerly: no asyncio task unless it really has to wait.

Most event handlers finish without ever suspending (an echo, a room emit in memory), yet
python-socketio starts a task for each event. Here the coroutine runs synchronously up to its
first real suspension, like Python 3.12's eager tasks and like Node calling listeners in order;
only then is the rest handed to a task.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator
from typing import Any


def start(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
    """Run ``coro`` now; return a task for its remainder, or None if it already finished."""
    try:
        pending = coro.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_resume(coro, pending))


@types.coroutine
def _resume(coro: Coroutine[Any, Any, Any], pending: Any) -> Generator[Any, None, Any]:
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
