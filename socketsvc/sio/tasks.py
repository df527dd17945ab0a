"""Every handler call runs in an asyncio Task of its own.

A handler is ordinary asyncio code: ``asyncio.current_task()``, ``asyncio.timeout``,
``wait_for``, libraries built on them (redis-py), cancellation and ``contextvars`` must behave
as they do anywhere else. So each call gets a real Task, which runs in a copy of the context
it was started from: a ``ContextVar`` a handler sets is gone for the next event and for every
other connection.

On Python 3.12+ the Task starts eagerly (``asyncio.eager_task_factory``): it runs at once, up
to its first real suspension, inside the Task; a handler that finishes without suspending (an
echo, a room emit in memory) costs no loop turn, and a client's events start in arrival
order. On 3.11 a plain Task starts on the next loop turn; tasks start in creation order, so
the arrival order holds there too.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

EAGER = sys.version_info >= (3, 12)


def start(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Run ``coro`` in a new Task (eagerly where the standard library can) and return it."""
    loop = asyncio.get_running_loop()
    if EAGER:  # what asyncio.eager_task_factory does, without its Python-level wrapper
        return asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
    return loop.create_task(coro)


class TaskSet:
    """The unfinished handler tasks of one server, kept referenced until they end (the event
    loop holds only weak references) so that shutdown can wait for them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        if EAGER:  # as start() above, written out: every event of every client comes here
            loop = asyncio.get_running_loop()
            task = asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
        else:
            task = start(coro)
        if not task.done():  # an eager task that finished at once needs no keeping
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return task

    def later(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in a Task that starts on a later loop turn (never inside the caller,
        which may be a finalizer), kept like the others."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the running tasks (and those they start)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks and (left := deadline - loop.time()) > 0:
            await asyncio.wait(list(self._tasks), timeout=left)

    def __len__(self) -> int:
        return len(self._tasks)
