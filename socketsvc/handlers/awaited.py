"""A ``self.emit`` or ``self.call`` a handler forgets to ``await`` still goes out, and is
reported as a bug in the handler that dropped it, at no cost to the emits that are awaited.

Without ``await`` a coroutine method does nothing: Python drops the coroutine, warns
``coroutine '...' was never awaited`` on stderr, and the handler carries on (its client may
well be told the bid was accepted). CPython finalizes a coroutine that was never started as
soon as the last reference goes, so in the handler's own frame, and turns that warning, when a
filter makes it an error, into a call of :func:`sys.unraisablehook` with the coroutine. For
:class:`~socketsvc.handlers.node_calls.NodeCalls`' ``emit`` and ``call`` (one warnings filter,
matched by the coroutine's name) the hook here reads the call's arguments from the coroutine's
frame, makes the same call in a task the node tracks, and logs the bug once per cause, naming
the method that dropped it. Every other unraisable goes on to the hook that was there before.
Nothing runs on the path of an awaited emit: it stays one coroutine.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import sys
import warnings
from collections.abc import Callable, Coroutine
from types import CodeType, FrameType
from typing import Any

log = logging.getLogger("socketsvc.handlers")

MESSAGE = r"coroutine 'NodeCalls\.(emit|call)' was never awaited"
_MARK = "_socketsvc_unawaited"


def install(methods: dict[CodeType, Callable[..., Coroutine[Any, Any, Any]]]) -> None:
    """Watch for dropped calls of ``methods`` (their code -> the function); idempotent, and
    again after a test framework restored the warnings filters or the hook it replaced."""
    pattern = re.compile(MESSAGE, re.I)
    if not any(f[0] == "error" and f[1] == pattern for f in warnings.filters):
        warnings.filterwarnings("error", message=MESSAGE, category=RuntimeWarning)
    if getattr(sys.unraisablehook, _MARK, False):
        return
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        coro = unraisable.object
        method = methods.get(getattr(coro, "cr_code", None))  # type: ignore[arg-type]
        if method is None or not issubclass(unraisable.exc_type, RuntimeWarning):
            previous(unraisable)
            return
        frame = inspect.currentframe()
        _send_anyway(coro, method, frame.f_back if frame is not None else None)

    setattr(hook, _MARK, True)
    sys.unraisablehook = hook


def _send_anyway(
    coro: Any, method: Callable[..., Coroutine[Any, Any, Any]], caller: FrameType | None
) -> None:
    """Make the dropped call again, from the arguments it was made with, and report it."""
    arguments = dict(coro.cr_frame.f_locals)  # a coroutine never started holds just these
    handler = arguments["self"]
    event = arguments.get("event")
    event = getattr(event, "name", event)
    name = method.__name__
    try:
        loop = asyncio.get_running_loop()
        again = method(**arguments)
        loop.call_soon(_start, handler, again)
        outcome = "sent anyway" if name == "emit" else "sent anyway, its ack unseen"
    except RuntimeError:  # no running loop: nowhere to send it from
        outcome = "not sent (no event loop)"
    where = caller.f_code.co_qualname if caller is not None else "?"
    first = handler.services.first_report(("unawaited", where, name, event))
    log.log(
        logging.ERROR if first else logging.DEBUG,
        "handler bug in %s: self.%s(%r) was not awaited (namespace=%s); %s: add 'await' "
        "(logged once per cause)",
        *(where, name, event, handler.namespace, outcome),
    )


def _start(handler: Any, call: Coroutine[Any, Any, Any]) -> None:
    handler.door.start(call).add_done_callback(_failed)


def _failed(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("an unawaited emit or call failed", exc_info=exc)
