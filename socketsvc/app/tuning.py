"""Process tuning for the command line: the event loop and the garbage collector."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any

# Collections of the youngest generation after this many net allocations (default 700),
# and of the older ones every 50 / 100 of the younger (default 10 / 10).
GC_THRESHOLDS = (20_000, 50, 100)


def tune_gc() -> None:
    """Spend less time in the cyclic garbage collector while connections pile up.

    Each connection leaves a hundred or so long-lived objects; with the default thresholds
    the collector keeps re-scanning them and takes a quarter of the CPU while thousands of
    clients connect (idle-10k in bench/: 1.9 s of 7.4 s). Objects alive at start-up
    (modules, classes, handlers) are frozen out of collections altogether."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed (a faster event loop), else on asyncio's own."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)
