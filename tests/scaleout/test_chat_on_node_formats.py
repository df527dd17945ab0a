"""socketsvc nodes among themselves on the Node.js formats (``redis_protocol`` ``socket.io`` and
``socket.io-streams``): the cluster tests of the socketsvc bus (test_cluster.py) run again on
each, so rooms, binary, presence, /chat history, the publish API and volatile emits keep
working beside Node's formats; and a kept session is recovered on another node."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from socketsvc.app.factory import SIO
from tests import raw_client
from tests.conftest import StartServer, eventually
from tests.scaleout.test_cluster import (  # noqa: F401 - collected here, on each protocol
    API_KEY,
    test_a_node_delivers_its_own_emits_once,
    test_binary_and_exact_values_survive_the_bus,
    test_history_and_retries_are_cluster_wide,
    test_members_are_cluster_wide,
    test_members_of_a_disconnected_client_leave_everywhere,
    test_publish_api_delivers_on_every_node,
    test_room_broadcast_crosses_nodes,
    test_volatile_emits_stay_volatile_on_other_nodes,
)


@pytest.fixture(params=["socket.io", "socket.io-streams"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def start_node(
    start_server: StartServer, redis_url: str, redis_prefix: str, protocol: str
) -> Callable[..., Awaitable[Any]]:
    async def start(**overrides: Any) -> Any:
        values: dict[str, Any] = {
            "manager": "redis",
            "redis_url": redis_url,
            "redis_prefix": redis_prefix,
            "redis_protocol": protocol,
            "api_key": API_KEY,
        }
        values.update(overrides)
        return await start_server(**values)

    return start


async def test_a_kept_session_is_recovered_on_another_node(start_node: Any) -> None:
    a, b = await start_node(), await start_node()
    async with aiohttp.ClientSession() as http:
        reader, _ = await raw_client.join(http, b, "/recovering", None)
        assert await raw_client.ask(reader, "/recovering", 1, "enter", "r") is True
        keeper, hello = await raw_client.join(http, a, "/recovering", None)
        assert await raw_client.ask(keeper, "/recovering", 1, "keep", "kept") is True
        assert await raw_client.ask(keeper, "/recovering", 2, "enter", "r") is True
        await keeper.close()  # the transport drops: node A keeps the session
        await eventually(lambda: not a.app[SIO].manager.is_connected(hello["sid"], "/recovering"))
        await a.app[SIO].emit("news", "while away", namespace="/recovering", to="r")
        frame = await reader.receive_str()
        assert frame.startswith('42/recovering,["news","while away","')  # with its offset
        back, again = await raw_client.join(http, b, "/recovering", {"pid": hello["pid"]})
        assert again["sid"] == hello["sid"]  # recovered on the other node
        assert await back.receive_str() == frame  # what it missed, with the same offset
        state = await raw_client.ask(back, "/recovering", 1, "state")
        assert state["recovered"] is True and state["kept"] == "kept"
        for ws in (reader, back):
            await ws.close()
