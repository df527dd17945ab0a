"""Many timers of one fixed delay, kept as one list: how Node.js keeps its timers.

Every session has a ping timer (``ping_interval``), and a connect deadline until it joins a
namespace. A ``loop.call_later`` per session costs about 600 bytes for as long as it runs (the
handle, uvloop's libuv timer, the bound method) and a few microseconds to start and to cancel.
Timers that share one delay expire in the order they were started, so one queue of
``(due, key)`` in start order and one loop timer for its head do the same work: starting a
timer is an append, cancelling one forgets its key (its queue entry is skipped when its time
comes; the queue is compacted when skipped entries pile up).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

log = logging.getLogger("socketsvc.engine")

# A timer is due when the loop's clock is this close to its time (asyncio's own tolerance: the
# loop may call back a little early).
SLACK_SECONDS = 0.001


class TimerList:
    """``arm(key)`` calls ``on_expiry(key)`` ``delay`` seconds later, unless ``cancel(key)``
    comes first; arming a key that is armed starts its timer again. Keys are strings (sids),
    so the queue holds no object alive. ``on_expiry`` runs on the event loop, as a
    ``call_later`` callback would, and must not block."""

    __slots__ = ("_due", "_handle", "_keys", "_times", "delay", "on_expiry")

    def __init__(self, delay: float, on_expiry: Callable[[str], None]) -> None:
        self.delay = delay
        self.on_expiry = on_expiry
        self._due: dict[str, float] = {}  # armed key -> its due time (the very float queued)
        self._times: deque[float] = deque()  # the queue, in start order: due times ...
        self._keys: deque[str] = deque()  # ... and their keys
        self._handle: asyncio.TimerHandle | None = None

    def arm(self, key: str) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.delay
        self._due[key] = due
        self._times.append(due)
        self._keys.append(key)
        if self._handle is None:
            self._handle = loop.call_at(due, self._expire)

    def cancel(self, key: str) -> None:
        if self._due.pop(key, None) is not None and len(self._keys) > 2 * len(self._due) + 64:
            self._compact()

    def cancel_all(self) -> None:
        self._due.clear()
        self._times.clear()
        self._keys.clear()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def __contains__(self, key: str) -> bool:
        return key in self._due

    def __len__(self) -> int:
        return len(self._due)

    def _expire(self) -> None:
        # ``self._handle`` stays the handle that fired until the end: an ``arm`` from a
        # callback then leaves the scheduling to this method.
        fired = self._handle
        loop = asyncio.get_running_loop()
        now = loop.time() + SLACK_SECONDS
        times, keys, due_of = self._times, self._keys, self._due
        while times and times[0] <= now:
            due = times.popleft()
            key = keys.popleft()
            if due_of.get(key) is due:  # not cancelled, not armed again since
                del due_of[key]
                try:
                    self.on_expiry(key)
                except Exception:  # as the loop does for a failing callback: log, go on
                    log.exception("timer callback failed for %s", key)
        if self._handle is not fired and self._handle is not None:
            self._handle.cancel()  # armed after a cancel_all from a callback
        self._handle = loop.call_at(times[0], self._expire) if times else None

    def _compact(self) -> None:
        """Drop the entries of cancelled timers (when they outnumber the armed ones)."""
        due_of = self._due
        live = [
            (due, key)
            for due, key in zip(self._times, self._keys, strict=True)
            if due_of.get(key) is due
        ]
        self._times.clear()
        self._keys.clear()
        self._times.extend(due for due, _ in live)
        self._keys.extend(key for _, key in live)
