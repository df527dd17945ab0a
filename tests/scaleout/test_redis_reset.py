"""Redis restarted empty (no persistence): the nodes notice, resubscribe, read the new recovery
stream, and never resume an offset from the old one."""

from __future__ import annotations

import json
import logging
import signal
from typing import cast

import aiohttp
import pytest

from socketsvc.app.factory import BACKENDS, SIO
from socketsvc.scaleout import redis_health
from socketsvc.scaleout.emitter import Emitter
from socketsvc.scaleout.redis_recovery import RedisRecovery
from socketsvc.sio.recovery import Session
from tests import raw_client
from tests.app.test_metrics import scrape
from tests.conftest import StartServer, eventually
from tests.redis_support import RedisProcess


def ids(offset: str) -> tuple[int, int]:
    ms, _, seq = offset.partition("-")
    return int(ms), int(seq)


async def news(ws: aiohttp.ClientWebSocketResponse) -> tuple[str, str]:
    frame = await ws.receive_str(timeout=10)
    name, text, offset = json.loads(frame.removeprefix("42/recovering,"))
    assert name == "news", frame
    return text, offset


async def test_a_redis_restarted_empty_is_noticed_and_its_old_offsets_never_resumed(
    redis_process: RedisProcess,  # first: it must outlive the nodes
    start_server: StartServer,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster = {"manager": "redis", "redis_url": redis_process.url, "redis_prefix": redis_prefix}
    a, b = await start_server(**cluster), await start_server(**cluster)
    logs = {node: cast(RedisRecovery, node.app[BACKENDS].recovery) for node in (a, b)}
    async with aiohttp.ClientSession() as http:
        reader, hello = await raw_client.join(http, b, "/recovering", None)
        assert await raw_client.ask(reader, "/recovering", 1, "enter", "r") is True
        await a.app[SIO].emit("news", "before", namespace="/recovering", to="r")
        text, old = await news(reader)
        assert text == "before"

        with caplog.at_level(logging.WARNING, logger="socketsvc.recovery"):
            redis_process.stop(signal.SIGKILL)
            redis_process.start()  # same port, nothing kept
            # Each node notices when its reader comes back, before it reads anything new.
            await eventually(
                lambda: sum("recovery stream reset" in r.message for r in caplog.records) == 2,
                timeout=15,
            )
        for log in logs.values():
            assert ids(log.epoch.value) > ids(old)
            assert ids(log.head("/recovering")) >= ids(log.epoch.value)  # never the old position

        # Cross-node delivery goes on, with offsets of the new stream.
        await a.app[SIO].emit("news", "after", namespace="/recovering", to="r")
        text, new = await news(reader)
        assert text == "after" and ids(new) >= ids(logs[b].epoch.value)

        # An offset from before the restart is never resumed (what followed it may be gone);
        # one from the new stream is.
        session = Session(hello["pid"], hello["sid"], "/recovering", ["r"], None, old)
        assert await logs[b].resumable(session, old) is False
        assert await logs[b].resumable(session, new) is True
        for node in (a, b):
            metrics = await scrape(node.make_url("/metrics"))
            assert metrics.value("socketsvc_redis_outages_total", component="recovery_reset") == 1
        await reader.close()


class SlowFirstRetry(redis_health.Backoff):
    """The readers' reconnect waits 1.5 s first: time to restart Redis and store in it."""

    def __init__(self, first: float = 1.5, cap: float = 5.0) -> None:
        super().__init__(first, cap)


async def test_what_was_stored_before_a_node_noticed_the_reset_reaches_its_clients(
    redis_process: RedisProcess,  # first: it must outlive the node
    start_server: StartServer,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis restarts empty, and another writer (here the emitter) stores an entry in the new
    stream before this node's reader is back: the node reads the new stream from its start,
    so its client gets that entry (mistake: from its end, which skipped it)."""
    monkeypatch.setattr(redis_health, "Backoff", SlowFirstRetry)
    node = await start_server(
        manager="redis", redis_url=redis_process.url, redis_prefix=redis_prefix
    )
    async with aiohttp.ClientSession() as http:
        reader, _ = await raw_client.join(http, node, "/recovering", None)
        assert await raw_client.ask(reader, "/recovering", 1, "enter", "r") is True
        redis_process.stop(signal.SIGKILL)
        redis_process.start()  # same port, nothing kept
        async with Emitter(redis_process.url, prefix=redis_prefix) as emitter:
            await emitter.emit(
                "news", "stored meanwhile", namespace="/recovering", to="r", recoverable=True
            )
        text, _ = await news(reader)
        assert text == "stored meanwhile"
        await reader.close()
