"""The contract of engine/_engineio.py with python-engineio, and of EngineSession with the parts of
python-engineio's server that still use sessions."""

from __future__ import annotations

import inspect

import engineio
import socketio
from engineio import async_socket

from socketsvc.app.factory import SIO
from socketsvc.dependencies import release
from socketsvc.engine import EngineSession
from socketsvc.engine import _engineio as fence
from tests.conftest import Inbox, StartServer

# Every python-engineio private the fence calls or overrides, with its parameters.
PRIVATE = {
    "_get_socket": ["self", "sid"],
    "_log_error_once": ["self", "message", "message_key"],
    "_make_response": ["self", "response_dict", "environ"],
    "_ok": ["self", "packets", "headers", "jsonp_index"],
    "_bad_request": ["self", "message"],
    "_unauthorized": ["self", "message"],
    "_cors_allowed_origins": ["self", "environ"],
    "_upgrades": ["self", "sid", "transport"],
    "_generate_sid_cookie": ["self", "sid", "attributes"],
    "_gzip": ["self", "response"],
    "_deflate": ["self", "response"],
}


def test_the_installed_release_is_one_the_fence_was_written_for() -> None:
    assert (4, 15) <= release(fence.VERSION) < (4, 16)


def test_every_private_the_fence_uses_has_the_shape_it_expects() -> None:
    for name, expected in PRIVATE.items():
        method = getattr(engineio.AsyncServer, name)
        assert list(inspect.signature(method).parameters) == expected, name


def test_sessions_do_not_inherit_python_engineios_socket() -> None:
    """EngineSession replaces AsyncSocket's queue and tasks: none of AsyncSocket's methods,
    which use state EngineSession never creates, can be reached on it."""
    assert not any(cls.__module__.startswith("engineio") for cls in EngineSession.__mro__[1:-1]), (
        EngineSession.__mro__
    )
    for name in ("poll", "check_ping_timeout", "schedule_ping", "receive", "handle_get_request"):
        assert hasattr(async_socket.AsyncSocket, name)
        assert not hasattr(EngineSession, name), name


async def test_python_engineios_session_api_works_on_live_sessions(
    start_server: StartServer,
) -> None:
    server = await start_server()
    sio = server.app[SIO]
    client = socketio.AsyncClient()
    await client.connect(str(server.make_url("/")), namespaces=["/test"], transports=["polling"])
    try:
        (eio_sid,) = list(sio.eio.sockets)
        assert sio.eio.transport(eio_sid) == "polling"
        await sio.eio.save_session(eio_sid, {"user": "u1"})
        assert await sio.eio.get_session(eio_sid) == {"user": "u1"}
        async with sio.eio.session(eio_sid) as session:
            session["seen"] = True
        assert await sio.eio.get_session(eio_sid) == {"user": "u1", "seen": True}
        # python-socketio's own session API sits on top of it
        sid = client.get_sid("/test")
        await sio.save_session(sid, {"n": 1}, namespace="/test")
        assert await sio.get_session(sid, namespace="/test") == {"n": 1}
        received = Inbox(client, "raw", namespace="/test")
        await sio.emit("raw", "via python-socketio", to=sid, namespace="/test")
        assert await received.get() == "via python-socketio"
    finally:
        await client.disconnect()
        await client.shutdown()
