"""The contract of sio/_socketio.py with python-socketio: the private hooks it overrides and
calls, and the per-client state python-socketio's cleanup (which socketsvc calls) covers."""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestServer
from socketio import base_manager
from socketio.async_pubsub_manager import AsyncPubSubManager

from socketsvc.app.factory import SIO
from socketsvc.dependencies import release
from socketsvc.sio import _socketio as fence
from socketsvc.sio.fanout import FanoutManager
from tests.conftest import Connect, eventually

SERVER = {
    "_engineio_server_class": ["self"],
    "_handle_eio_connect": ["self", "eio_sid", "environ"],
    "_handle_eio_disconnect": ["self", "eio_sid", "reason"],
    "_handle_connect": ["self", "eio_sid", "namespace", "data"],
    "_handle_disconnect": ["self", "eio_sid", "namespace", "reason"],
    "_handle_ack": ["self", "eio_sid", "namespace", "id", "data"],
    "_trigger_event": ["self", "event", "namespace", "args"],
    "_send_packet": ["self", "eio_sid", "pkt"],
}
MANAGER = {
    "_generate_ack_id": ["self", "sid", "callback"],
    "basic_disconnect": ["self", "sid", "namespace", "kwargs"],
}
PUBSUB = {
    "_publish": ["self", "data"],
    "_listen": ["self"],
    "_handle_emit": ["self", "message"],
    "_thread": ["self"],
}
# What a python-socketio manager keeps; per-client state lives in the dicts among them, which
# basic_disconnect (python-socketio's own, called through ManagerBase) cleans.
MANAGER_STATE = {
    "logger",
    "server",
    "rooms",
    "eio_to_sid",
    "callbacks",
    "pending_connect",
    "pending_disconnect",
    "json",
}


def test_the_installed_release_is_one_the_fence_was_written_for() -> None:
    assert (5, 18) <= release(fence.VERSION) < (5, 19)


@pytest.mark.parametrize(
    "cls, expected",
    [
        (socketio.AsyncServer, SERVER),
        (socketio.AsyncManager, MANAGER),
        (AsyncPubSubManager, PUBSUB),
    ],
)
def test_every_private_the_fence_uses_has_the_shape_it_expects(
    cls: type, expected: dict[str, list[str]]
) -> None:
    for name, params in expected.items():
        assert list(inspect.signature(getattr(cls, name)).parameters) == params, name


def test_socketsvc_server_state_does_not_overwrite_python_socketios() -> None:
    """An attribute SocketServer sets under a name python-socketio's server also keeps would
    replace what python-socketio's own flows read (``namespaces`` once broke connecting to
    "/"). Every ``self.<name> = ...`` in socketsvc's server classes must be a name of its own."""
    from socketsvc.sio.server import SocketServer

    stock = set(vars(socketio.AsyncServer()))
    assigned = set()
    for cls in (SocketServer, fence.SocketIOServer):
        for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(cls)))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
            ):
                assigned.add(node.attr)
    assert assigned, "no assignments found: the check reads nothing"
    assert assigned & stock == set()


def test_the_state_python_socketio_keeps_per_manager_is_what_the_fence_knows() -> None:
    assert set(vars(socketio.AsyncManager())) == MANAGER_STATE


async def test_disconnect_runs_python_socketios_cleanup_and_leaves_nothing(
    connect: Connect, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The base cleanup is called (not a copy of it), on the client's rooms only, and every
    trace of the client is gone afterwards."""
    manager: FanoutManager = server.app[SIO].manager
    calls: list[tuple[str, str, list[Any]]] = []
    original = base_manager.BaseManager.basic_disconnect

    def spy(self: Any, sid: str, namespace: str, **kwargs: Any) -> None:
        calls.append((sid, namespace, sorted(map(str, self.rooms.get(namespace, {})))))
        original(self, sid, namespace, **kwargs)

    monkeypatch.setattr(base_manager.BaseManager, "basic_disconnect", spy)
    stay, leave = await connect(["/test"]), await connect(["/test"])
    for client in (stay, leave):
        await client.call("enter", "shared", namespace="/test", timeout=5)
    await leave.call("enter", "own", namespace="/test", timeout=5)
    gone = leave.get_sid("/test")
    # an ack the server is still waiting for from the client that leaves
    await server.app[SIO].emit("question", {}, to=gone, namespace="/test", callback=lambda *a: None)
    await eventually(lambda: gone in manager.callbacks)
    await leave.disconnect()
    await eventually(lambda: bool(calls))
    assert calls == [(gone, "/test", sorted(["None", gone, "shared", "own"]))]
    table = manager.rooms["/test"]
    assert "own" not in table and gone not in table
    assert gone not in table["shared"] and stay.get_sid("/test") in table["shared"]
    assert gone not in table[None]
    assert gone not in manager.callbacks
    assert all(gone not in sids for sids in manager.pending_connect.values())
    assert all(gone not in sids for sids in manager.pending_disconnect.values())
    assert ("/test", gone) not in manager._memberships


async def test_settled_agrees_with_is_connected_through_a_connect_and_a_disconnect(
    server: TestServer,
) -> None:
    # ManagerBase.settled skips python-socketio's lookup while nothing is pending; at every
    # step of a connect and a disconnect, for the client and a bystander, it must say what
    # is_connected says about a sid found in the table.
    manager = server.app[SIO].manager
    bystander = await manager.pre_connect("eio-b", "/")
    await manager.connect(bystander, "/")

    def agree() -> None:
        for sid in (bystander, client):
            if sid is not None and manager.sid_from_eio_sid(eids[sid], "/") == sid:
                assert manager.settled(sid, "/") == manager.is_connected(sid, "/")

    client = None
    eids = {bystander: "eio-b"}
    agree()
    client = await manager.pre_connect("eio-c", "/")
    eids[client] = "eio-c"
    agree()
    assert not manager.settled(client, "/")  # still connecting
    await manager.connect(client, "/")
    agree()
    assert manager.settled(client, "/") and not manager.pending_connect
    manager.pre_disconnect(client, "/")
    agree()
    assert not manager.settled(client, "/") and manager.settled(bystander, "/")
    manager.basic_disconnect(client, "/")
    agree()
    assert not manager.pending_disconnect  # the emptied list is dropped: no lookup again
