"""A handler that forgets ``await`` on ``self.emit``/``self.call``: the event still goes out
(its client was told the bid was accepted, and it was), and the bug is logged once, naming
the method; an emit handed to ``gather`` or ``create_task`` is awaited, not a bug."""

from __future__ import annotations

import asyncio
import logging
import warnings
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from socketsvc.handlers import BaseNamespace
from tests.conftest import Connect, Inbox, StartServer

NS = "/forgetful"


class Forgetful(BaseNamespace):
    async def on_watch(self, sid: str, lot: str) -> None:
        await self.join(sid, lot)

    async def on_bid(self, sid: str, lot: str) -> str:
        self.emit("leading", {"lot": lot}, to=lot, skip_sid=sid)  # type: ignore[unused-coroutine]
        return "accepted"

    async def on_ask(self, sid: str) -> str:
        self.call("question", "ready?", to=sid, timeout=5)  # type: ignore[unused-coroutine]
        return "asked"

    async def on_both_ways(self, sid: str) -> None:
        await asyncio.gather(self.emit("one", 1, to=sid))
        await asyncio.create_task(self.emit("two", 2, to=sid))


@pytest.fixture
async def server(start_server: StartServer, serializer: str) -> TestServer:
    handlers = {NS: "tests.handlers.test_unawaited:Forgetful"}
    return await start_server(serializer=serializer, namespaces=handlers)


@pytest.fixture
def transport() -> str:
    return "websocket"


def bugs(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "handler bug" in r.getMessage()]


async def test_an_unawaited_emit_goes_out_and_is_reported_naming_the_method(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    watcher, bidder = await connect([NS]), await connect([NS])
    leading = Inbox(watcher, "leading", NS)
    assert await watcher.call("watch", "A-1", namespace=NS, timeout=5) is None
    with caplog.at_level(logging.ERROR, logger="socketsvc.handlers"), warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine ... was never awaited" either
        assert await bidder.call("bid", "A-1", namespace=NS, timeout=5) == "accepted"
        assert await leading.get() == {"lot": "A-1"}
        assert await bidder.call("bid", "A-1", namespace=NS, timeout=5) == "accepted"
        assert await leading.get() == {"lot": "A-1"}
    assert bugs(caplog) == [  # once per cause
        "handler bug in Forgetful.on_bid: self.emit('leading') was not awaited "
        "(namespace=/forgetful); sent anyway: add 'await' (logged once per cause)"
    ]


async def test_an_unawaited_call_reaches_the_client_and_is_reported(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    client = await connect([NS])
    asked: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    client.on("question", lambda data: asked.set_result(data) or "yes", namespace=NS)
    with caplog.at_level(logging.ERROR, logger="socketsvc.handlers"):
        assert await client.call("ask", namespace=NS, timeout=5) == "asked"
        assert await asyncio.wait_for(asked, 5) == "ready?"
    assert bugs(caplog) == [
        "handler bug in Forgetful.on_ask: self.call('question') was not awaited "
        "(namespace=/forgetful); sent anyway, its ack unseen: add 'await' "
        "(logged once per cause)"
    ]


async def test_gather_and_create_task_await_an_emit(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    client = await connect([NS])
    one, two = Inbox(client, "one", NS), Inbox(client, "two", NS)
    with caplog.at_level(logging.DEBUG, logger="socketsvc.handlers"):
        assert await client.call("both_ways", namespace=NS, timeout=5) is None
        assert (await one.get(), await two.get()) == (1, 2)
    assert bugs(caplog) == []
