"""``auth:refresh`` under bad input, the deny-list hook, and what a token lifetime costs a node.

python-socketio clients of both formats and transports; the stock JS client's view of expiry
and refresh is in test_token_lifetime.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
import socketio
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import ec

from socketsvc.app.factory import BACKENDS, SIO, create_app
from socketsvc.cli import main
from socketsvc.config import Settings
from socketsvc.errors import ConfigError
from socketsvc.handlers import BaseNamespace, HandlerError, event
from tests import raw_client
from tests.conftest import (
    CLIENT_SERIALIZERS,
    TEST_NAMESPACES,
    Connect,
    Inbox,
    StartServer,
    eventually,
)
from tests.recovering import wait_for
from tests.security.conftest import AUTH_SETTINGS, SECRET, token

HOOK = "tests.sample_revocation:revoked"


@pytest.fixture
async def server(start_server: StartServer) -> TestServer:
    return await start_server(**AUTH_SETTINGS, revoked_hook=HOOK)


async def refresh(client: socketio.AsyncClient, *args: Any, namespace: str = "/test") -> Any:
    data = args[0] if len(args) == 1 else tuple(args) if args else None
    return await client.call("auth:refresh", data, namespace=namespace, timeout=5)


def code_of(reply: Any) -> str:
    assert isinstance(reply, dict) and "error" in reply, reply
    return str(reply["error"]["code"])


async def test_refusals_answer_their_code_and_keep_the_old_token(connect: Connect) -> None:
    exp = int(time.time()) + 300
    client = await connect(["/test"], auth={"token": token(exp=exp)})
    refusals: list[tuple[tuple[Any, ...], str]] = [
        ((), "unauthorized"),
        (("",), "unauthorized"),
        ((42,), "token_invalid"),
        ((["x"],), "token_invalid"),
        (("a" * 9000,), "token_invalid"),  # oversized
        (("not.a.jwt",), "token_invalid"),
        ((token(), token()), "token_invalid"),  # one argument, the token
        ((token(key="k" * 40),), "token_invalid"),  # another key
        ((token(aud="other-app"),), "token_invalid"),
        ((token(exp=int(time.time()) - 60),), "token_expired"),
        ((token(sub="u-2"),), "token_subject_changed"),
        ((token(jti="revoked-jti"),), "token_revoked"),
    ]
    for args, code in refusals:
        assert code_of(await refresh(client, *args)) == code, args
    assert await client.call("expires", namespace="/test", timeout=5) == exp
    assert await refresh(client, token(exp=exp + 60)) == {"exp": exp + 60}
    assert await client.call("expires", namespace="/test", timeout=5) == exp + 60


async def test_an_anonymous_connection_cannot_take_a_token(connect: Connect) -> None:
    client = await connect(["/test"])  # /test: auth optional
    assert code_of(await refresh(client, token())) == "token_subject_changed"
    assert await client.call("whoami", namespace="/test", timeout=5) is None


async def test_a_refresh_flood_is_rate_limited_like_any_event(
    start_server: StartServer, serializer: str, transport: str
) -> None:
    srv = await start_server(**AUTH_SETTINGS, rate_limit_events=5, rate_limit_burst=5)
    client = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer], reconnection=False)
    try:
        await client.connect(
            str(srv.make_url("/")),
            namespaces=["/test"],
            transports=[transport],
            auth={"token": token()},
            wait_timeout=5,
        )
        fresh = token(exp=int(time.time()) + 600)
        replies = await asyncio.gather(*(refresh(client, fresh) for _ in range(8)))
        codes = sorted(code_of(r) if "error" in r else "ok" for r in replies)
        assert codes == ["ok"] * 5 + ["rate_limited"] * 3
        for _ in range(20):  # keep flooding: disconnected once the debt passes another burst
            if not client.connected:
                break
            await client.emit("auth:refresh", fresh, namespace="/test")
        await eventually(lambda: not client.connected)
        await eventually(lambda: srv.app[SIO].security.state_size() == 0)
    finally:
        await client.disconnect()
        await client.shutdown()


async def test_tokens_are_never_logged(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    srv = await start_server(**AUTH_SETTINGS, revoked_hook=HOOK, log_level="debug")
    tokens = [token(), token(sub="u-2"), token(key="k" * 40), token(jti="revoked-jti")]
    client = socketio.AsyncClient(reconnection=False)
    try:
        await client.connect(
            str(srv.make_url("/")), namespaces=["/test"], auth={"token": tokens[0]}
        )
        for tok in [*tokens, tokens[0] + "x" * 9000, "a.b." + "c" * 200]:
            await refresh(client, tok)
    finally:
        await client.disconnect()
        await client.shutdown()
    text = caplog.text
    assert "refused token refresh on /test" in text
    for tok in tokens:
        for part in tok.split("."):
            assert part not in text


async def test_handlers_cannot_define_the_refresh_event() -> None:
    with pytest.raises(HandlerError, match="'auth:refresh' cannot be an event name"):

        class Sneaky(BaseNamespace):
            @event("auth:refresh")
            async def refresh(self, sid: str, token: str) -> None:
                return None


# -- the deny-list hook -----------------------------------------------------------------------
async def test_a_revoked_token_is_refused_at_connect(connect: Connect) -> None:
    errors: list[Any] = []
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect(["/chat"], auth={"token": token(jti="revoked-jti")}, connect_errors=errors)
    assert errors == [{"message": "token revoked", "data": {"code": "token_revoked"}}]
    ok = await connect(["/chat"], auth={"token": token(jti="fine")})
    assert ok.connected


@pytest.mark.logs_tracebacks  # the hook's failure, once
async def test_a_failing_hook_refuses_and_is_logged_once(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(2):
        errors: list[Any] = []
        with pytest.raises(socketio.exceptions.ConnectionError):
            await connect(["/test"], auth={"token": token(boom=True)}, connect_errors=errors)
        assert errors == [{"message": "token revoked", "data": {"code": "token_revoked"}}]
    client = await connect(["/test"], auth={"token": token()})
    assert code_of(await refresh(client, token(boom=True))) == "token_revoked"
    failures = [r for r in caplog.records if "raised ConnectionError" in r.getMessage()]
    assert len(failures) == 1 and failures[0].getMessage().startswith(HOOK)


@pytest.mark.parametrize(
    ("hook", "problem"),
    [
        ("tests.no_such_module:revoked", "cannot import module 'tests.no_such_module'"),
        ("tests.sample_revocation:missing", "has no 'missing'"),
        ("tests.sample_revocation:not_async", "must be 'async def not_async(claims) -> bool'"),
        ("tests.sample_revocation:no_arguments", "must take the claims as its one argument"),
        ("not a path", "is not a 'package.module:function' path"),
    ],
)
def test_a_bad_hook_stops_start_up_naming_the_setting(hook: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        create_app(Settings(**AUTH_SETTINGS, revoked_hook=hook))
    assert str(info.value).startswith("revoked_hook: "), info.value
    assert problem in str(info.value)


def test_cli_exits_2_on_a_bad_hook(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["serve", "--port", "0", "--jwt-secret", SECRET, "--auth", "required"]
    assert main([*args, "--revoked-hook", "tests.sample_revocation:not_async"]) == 2
    assert "revoked_hook" in capsys.readouterr().err
    assert main([*args, "--token-refresh-notice", "-1"]) == 2
    assert "token_refresh_notice" in capsys.readouterr().err


# -- what a lifetime costs -------------------------------------------------------------------
async def test_only_authenticated_connections_hold_a_lifetime(
    connect: Connect, server: TestServer
) -> None:
    sio = server.app[SIO]
    anonymous = [await connect(["/test"]) for _ in range(3)]
    assert authenticated(sio) == 0 and sio.connections.timers() == 0
    known = await connect(["/test", "/chat"], auth={"token": token()})
    assert authenticated(sio) == 2 and sio.connections.timers() == 2
    assert len(sio.connections.of_subject("u-1")) == 2
    for client in [*anonymous, known]:
        await client.disconnect()
    await eventually(lambda: sio.connections.state_size() == 0)
    assert sio.security.state_size() == 0 and sio.connections.of_subject("u-1") == []


def authenticated(sio: Any) -> int:
    """The connections of ``sio`` that hold a token's lifetime."""
    return sum(1 for record in sio.connections if record.lifetime is not None)


async def test_an_expired_connection_leaves_nothing_behind(
    start_server: StartServer, serializer: str, transport: str
) -> None:
    srv = await start_server(**AUTH_SETTINGS, token_refresh_notice=0)
    client = socketio.AsyncClient(serializer=CLIENT_SERIALIZERS[serializer], reconnection=False)
    gone = asyncio.Event()
    client.on("disconnect", lambda *_: gone.set(), namespace="/test")
    notices = Inbox(client, "auth:expiring", namespace="/test")
    try:
        await client.connect(
            str(srv.make_url("/")),
            namespaces=["/test"],
            transports=[transport],
            auth={"token": token(exp=int(time.time()) + 1)},
            wait_timeout=5,
        )
        await asyncio.wait_for(gone.wait(), 10)
        # the client closes its transport itself (no namespace left): let it finish, or
        # its polling loop may open an HTTP session after shutdown() closed the last one
        await eventually(lambda: client.eio.state == "disconnected")
        assert notices.so_far() == []  # token_refresh_notice = 0: no notice
        await eventually(lambda: srv.app[SIO].security.state_size() == 0)
    finally:
        await client.disconnect()
        await client.shutdown()


# -- JWKS rotation --------------------------------------------------------------------------
def _jwks(*keys: tuple[str, Any]) -> str:
    return json.dumps(
        {
            "keys": [
                {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())), "kid": kid}
                for kid, key in keys
            ]
        }
    )


async def test_a_refresh_signed_with_a_rotated_in_key_is_accepted(
    start_server: StartServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old, new = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "jwks.json"
    path.write_text(_jwks(("k1", old)))
    settings = {k: v for k, v in AUTH_SETTINGS.items() if k != "jwt_secret"}
    srv = await start_server(**settings, jwt_jwks_file=str(path))

    def signed(key: Any, kid: str, **claims: Any) -> str:
        return token(key, "ES256", headers={"kid": kid}, **claims)

    client = socketio.AsyncClient(reconnection=False)
    try:
        await client.connect(
            str(srv.make_url("/")), namespaces=["/test"], auth={"token": signed(old, "k1")}
        )
        rotated = signed(new, "k2", exp=int(time.time()) + 600)
        assert code_of(await refresh(client, rotated)) == "token_invalid"  # not published yet
        path.write_text(_jwks(("k1", old), ("k2", new)))
        replies: list[Any] = []

        async def accepted() -> bool:  # the file is looked at again at most once a second
            replies.append(await refresh(client, rotated))
            return "exp" in replies[-1]

        await until(accepted)
        path.write_text("{ not a key set")

        async def warned() -> bool:
            reply = await refresh(client, signed(new, "k3"))
            assert code_of(reply) == "token_invalid"
            return any("keeping the JWKS keys loaded before" in m for m in caplog.messages)

        await until(warned)
        assert "exp" in await refresh(client, signed(old, "k1"))  # the keys loaded before
    finally:
        await client.disconnect()
        await client.shutdown()


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Repeat ``check()`` until it holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"{check.__name__} did not hold within {timeout}s")
        await asyncio.sleep(0.05)


async def test_short_tokens_get_their_notice_halfway_and_the_same_one_no_new_notice(
    start_server: StartServer,
) -> None:
    """Tokens shorter than token_refresh_notice (30 s here): each new one is noticed halfway
    through what it has left; refreshing to one that lasts no longer is not noticed again
    (a client sending the same token back is not asked again and again)."""
    srv = await start_server(**AUTH_SETTINGS)
    now = int(time.time())
    first, longer = token(exp=now + 2), token(exp=now + 4)
    client = socketio.AsyncClient(reconnection=False)
    notices = Inbox(client, "auth:expiring", namespace="/test")
    gone = asyncio.Event()
    client.on("disconnect", lambda *_: gone.set(), namespace="/test")
    try:
        await client.connect(
            str(srv.make_url("/")), namespaces=["/test"], auth={"token": first}, wait_timeout=5
        )
        assert await notices.get() == {"exp": now + 2}
        assert await refresh(client, longer) == {"exp": now + 4}
        assert await notices.get() == {"exp": now + 4}
        assert await refresh(client, longer) == {"exp": now + 4}  # nothing new
        await asyncio.wait_for(gone.wait(), 10)  # closed at now + 4 + leeway
        assert notices.so_far() == []
        await eventually(lambda: client.eio.state == "disconnected")
    finally:
        await client.disconnect()
        await client.shutdown()


async def test_a_token_timer_ends_with_its_connection_not_with_its_sid(
    start_server: StartServer,
) -> None:
    """A client drops and recovers its session (the same sid) with a new token: the old
    connection's timer is stopped when it leaves, so the old token's ``exp`` does not close
    the recovered connection (the timer outliving its connection would, for that sid)."""
    srv = await start_server(
        **{**AUTH_SETTINGS, "namespace_auth": {"/recovering": "required"}},
        namespaces=TEST_NAMESPACES,
        namespace_recovery={"/recovering": 30},
        token_refresh_notice=0,
    )
    sio, now = srv.app[SIO], int(time.time())
    async with aiohttp.ClientSession() as http:
        first, hello = await raw_client.join(
            http, srv, "/recovering", {"token": token(exp=now + 2)}
        )
        await first.close()  # dropped without a goodbye: its session is kept
        recovery = srv.app[BACKENDS].recovery
        await wait_for(lambda: recovery.pending("/recovering", hello["pid"]))
        auth = {"pid": hello["pid"], "token": token(exp=now + 60)}
        back, again = await raw_client.join(http, srv, "/recovering", auth)
        assert again["sid"] == hello["sid"]
        await asyncio.sleep(now + 2 + AUTH_SETTINGS["jwt_leeway"] + 1.5 - time.time())
        record = sio.connections.get(hello["sid"])  # past the old token's exp and leeway
        assert record is not None and record.lifetime is not None
        assert record.lifetime.identity.expires == now + 60
        assert await raw_client.ask(back, "/recovering", 1, "enter", "r") is True
        await back.close()
