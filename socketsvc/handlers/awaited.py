"""A ``self.emit`` or ``self.call`` a handler forgets to ``await`` still goes out, and is
reported as a bug in the handler that dropped it.

Without ``await`` a coroutine method does nothing: Python drops the coroutine with a
RuntimeWarning on stderr, the event is never sent, and the handler carries on (its client may
well be told the bid was accepted). BaseNamespace's ``emit`` and ``call`` return an
:class:`Awaited` instead: awaited (or handed to ``create_task``/``gather``) it is the
coroutine itself; dropped without ever being started, it starts the coroutine in a task, so
the event is sent after all, and logs the bug once, naming the method that dropped it. CPython
drops an unused call result at once, so the report comes from within that method.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Coroutine, Generator, Hashable
from functools import wraps
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

if TYPE_CHECKING:
    from socketsvc.sio.tasks import TaskSet

log = logging.getLogger("socketsvc.handlers")

P = ParamSpec("P")
T = TypeVar("T")


class Awaited(Coroutine[Any, Any, T]):
    """``coro`` (a ``self.emit``/``self.call`` of ``handler``), started when dropped unawaited."""

    __slots__ = ("_coro", "_event", "_handler", "_method", "_started")

    def __init__(self, coro: Coroutine[Any, Any, T], handler: Any, method: str, event: Any):
        self._coro, self._handler, self._method, self._event = coro, handler, method, event
        self._started = False

    def __await__(self) -> Generator[Any, None, T]:
        self._started = True
        return self._coro.__await__()

    def send(self, value: Any) -> Any:
        self._started = True
        return self._coro.send(value)

    def throw(self, *args: Any) -> Any:
        self._started = True
        return self._coro.throw(*args)

    def close(self) -> None:
        self._started = True
        self._coro.close()

    def __del__(self) -> None:
        if self._started:
            return
        frame = inspect.currentframe()
        caller = frame.f_back if frame is not None else None
        where = caller.f_code.co_qualname if caller is not None else "?"
        event = getattr(self._event, "name", self._event)
        try:
            tasks: TaskSet = self._handler.server.tasks
            tasks.later(self._coro).add_done_callback(_failed)
            outcome = "sent anyway" if self._method == "emit" else "sent anyway, its ack unseen"
        except RuntimeError:  # no running loop: nowhere to send it from
            self._coro.close()
            outcome = "not sent (no event loop)"
        cause: Hashable = ("unawaited", where, self._method, event)
        first = self._handler.services.first_report(cause)
        log.log(
            logging.ERROR if first else logging.DEBUG,
            "handler bug in %s: self.%s(%r) was not awaited (namespace=%s); %s: add 'await' "
            "(logged once per cause)",
            *(where, self._method, event, self._handler.namespace, outcome),
        )


def _failed(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("an unawaited emit or call failed", exc_info=exc)


def awaited(
    method: Callable[Concatenate[Any, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]:
    """Make ``method`` (an async method whose first argument is the event) return
    :class:`Awaited`."""
    name = method.__name__

    @wraps(method)
    def wrapper(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> Awaited[T]:
        event = args[0] if args else kwargs.get("event")
        return Awaited(method(self, *args, **kwargs), self, name, event)

    return wrapper
