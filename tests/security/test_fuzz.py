"""Property-based fuzzing of a running server with hostile Engine.IO / Socket.IO input.

One socketsvc node runs in a background thread (its own event loop, real TCP). Hypothesis builds
batches of hostile sessions (:mod:`tests.security.fuzz_inputs` lists the classes of input) and
plays them against it concurrently (:mod:`tests.security.fuzz_node`). After every batch:

- the server answers ``/healthz``;
- three members of the ``/chat`` room hostile sessions aim at (JSON websocket, msgpack
  websocket, JSON long-polling) are still connected, get their ``members`` answered and
  receive a message sent to the room;
- no ERROR record with a traceback (or from asyncio/aiohttp) was logged by the server;
- per-connection server state returns to the baseline, and RSS growth stays under a bound.

CI runs a seconds-long slice: ``SOCKETSVC_TEST_FUZZ_EXAMPLES`` batches (default 200),
derandomized, no deadline, no shrinking (the first failure is reported as generated). A long
run sets ``SOCKETSVC_TEST_FUZZ_INPUTS``: rounds of that many batches, each from a fresh seed,
until at least that many inputs (frames and hostile HTTP requests) have been sent::

    SOCKETSVC_TEST_FUZZ_INPUTS=100000 SOCKETSVC_TEST_FUZZ_EXAMPLES=1000 \\
        .venv/3.13/bin/python -m pytest -p no:cacheprovider -q --timeout=0 \\
        tests/security/test_fuzz.py

Either way the last line says how many inputs were tried, how many crashes and tracebacks
there were (both must be 0) and the process RSS before and after.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.security.fuzz_inputs import Raw, batch, closers
from tests.security.fuzz_node import WATCHED, Node, hostile_session, rss

EXAMPLES = int(os.environ.get("SOCKETSVC_TEST_FUZZ_EXAMPLES", "200"))
INPUTS = int(os.environ.get("SOCKETSVC_TEST_FUZZ_INPUTS", "0"))  # 0: one derandomized round
RSS_BOUND = 150 * 2**20


@pytest.fixture
def node() -> Iterator[Node]:  # shadows the JS "node" fixture: no Node.js needed here
    """The node, its log records going to the fuzzer's handler only: pytest's handlers would
    keep every one of them (memory growing with the run that is not the node's)."""
    n = Node()
    loggers = [logging.getLogger(name) for name in WATCHED]
    for logger in loggers:
        logger.addHandler(n.log)
        logger.propagate = False
    n.thread.start()
    n.run(n.start())
    try:
        yield n
    finally:
        try:
            n.run(n.stop())
        finally:
            for logger in loggers:
                logger.removeHandler(n.log)
                logger.propagate = True
            n.loop.call_soon_threadsafe(n.loop.stop)
            n.thread.join(5)
            n.loop.close()


def test_malformed_input_never_hurts_the_server(
    node: Node, capsys: pytest.CaptureFixture[str]
) -> None:
    examples = 0
    rss_start = rss()

    def round_(number: int | None) -> None:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=number is None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time
        )
        @seed(number or 0)
        @given(batch, closers)
        def property_(sessions: list[dict[str, Any]], ends: list[str | Raw]) -> None:
            nonlocal examples
            examples += 1

            async def run_batch() -> None:
                node.unclosed.clear()
                await asyncio.gather(
                    *(hostile_session(node, s, e) for s, e in zip(sessions, ends, strict=False))
                )
                await node.check(examples)

            node.run(run_batch(), timeout=30)
            assert not node.unclosed, node.unclosed
            assert not node.log.errors, [
                (r.name, r.getMessage(), r.exc_text or "") for r in node.log.errors[:3]
            ]
            assert rss() - rss_start < RSS_BOUND

        property_()

    started = time.monotonic()
    crashes = 0
    try:
        if not INPUTS:
            round_(None)
        number = 0
        while node.inputs < INPUTS:
            number += 1
            round_(number)
            with capsys.disabled():  # progress of a long run, and its memory
                print(
                    f"fuzz round {number}: {node.inputs} inputs, "
                    f"{time.monotonic() - started:.0f}s, RSS {rss() / 2**20:.0f} MiB",
                    flush=True,
                )
    except BaseException:
        crashes = 1  # the run stops at the first; Hypothesis prints its input above
        raise
    finally:
        with capsys.disabled():
            print(
                f"\nfuzz: {node.inputs} inputs tried ({examples} batches of "
                f"{node.sessions} hostile sessions) in {time.monotonic() - started:.0f}s; "
                f"crashes {crashes}, tracebacks logged {len(node.log.errors)}, "
                f"{node.log.refusals} server log lines about the input; "
                f"RSS before {rss_start / 2**20:.0f} MiB, after {rss() / 2**20:.0f} MiB"
            )
