"""JWT authentication on connect: what stock clients see on refusal, identities in handlers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
import socketio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from socketsvc.cli import main
from socketsvc.config import Settings
from socketsvc.errors import ConfigError
from socketsvc.security.auth import load_verifier
from tests.conftest import Connect, StartServer, eventually
from tests.security.conftest import AUTH_SETTINGS, SECRET, RunNode, token

NOW = int(time.time())


@pytest.fixture
async def server(start_server: StartServer, serializer: str) -> Any:
    return await start_server(serializer="auto", **AUTH_SETTINGS)


# -- stock JS client: connect_error {message, data: {code}} -----------------------------------
@pytest.mark.parametrize("parser", ["json", "msgpack"])
async def test_js_client_reads_refusal_codes(
    start_server: StartServer, run_node: RunNode, parser: str
) -> None:
    srv = await start_server(**AUTH_SETTINGS)
    url = str(srv.make_url("/"))
    cases = [
        ({}, "authentication required", "unauthorized"),
        ({"token": token(exp=NOW - 60)}, "token expired", "token_expired"),
        ({"token": token(key="x" * 40)}, "token invalid", "token_invalid"),
        ({"token": "not.a.jwt"}, "token invalid", "token_invalid"),
    ]
    for auth, message, code in cases:
        report = await run_node(url, namespace="/chat", auth=auth, parser=parser)
        assert report == {"event": "connect_error", "message": message, "code": code}, auth


async def test_js_client_with_token_is_named_by_its_claims(
    start_server: StartServer, run_node: RunNode
) -> None:
    srv = await start_server(**AUTH_SETTINGS)
    report = await run_node(
        str(srv.make_url("/")),
        namespace="/chat",
        auth={"token": token(name="Alice")},
        calls=[["join", {"room": "lobby", "name": "Mallory"}]],
    )
    assert report == {"event": "connect", "acks": [{"room": "lobby", "members": ["Alice"]}]}


# -- python clients: every invalid-token shape ------------------------------------------------
REFUSAL = {
    code: {"message": message, "data": {"code": code}}
    for code, message in (
        ("unauthorized", "authentication required"),
        ("token_expired", "token expired"),
        ("token_invalid", "token invalid"),
    )
}


async def refused(connect: Connect, namespace: str, auth: Any) -> Any:
    """Connect expecting a refusal; returns the one connect_error the server sent."""
    seen: list[Any] = []
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect([namespace], auth=auth, connect_errors=seen)
    assert len(seen) == 1, seen
    return seen[0]


# Times are taken when each test runs: the suite can take longer than their margins.
@pytest.mark.parametrize(
    ("claims", "code"),
    [
        (lambda now: {"exp": now - 60}, "token_expired"),
        (lambda now: {"nbf": now + 600}, "token_invalid"),
        (lambda now: {"aud": "someone-else"}, "token_invalid"),
        (lambda now: {"aud": None}, "token_invalid"),
        (lambda now: {"iss": "https://evil.test"}, "token_invalid"),
        (lambda now: {"exp": None}, "token_invalid"),
    ],
    ids=["expired", "not-yet-valid", "other-audience", "no-audience", "other-issuer", "no-exp"],
)
async def test_bad_claims_are_refused(
    connect: Connect, claims: Callable[[int], dict[str, Any]], code: str
) -> None:
    bad = claims(int(time.time()))
    assert await refused(connect, "/chat", {"token": token(**bad)}) == REFUSAL[code]


@pytest.mark.parametrize("bad", [42, ["x"], "a" * 9000, "e30.e30.", ""])
async def test_malformed_tokens_are_invalid_not_crashes(connect: Connect, bad: Any) -> None:
    expected = "unauthorized" if bad == "" else "token_invalid"
    assert await refused(connect, "/chat", {"token": bad}) == REFUSAL[expected]


async def test_the_auth_default_covers_unlisted_namespaces_and_none_ignores_tokens(
    start_server: StartServer,
) -> None:
    srv = await start_server(jwt_secret=SECRET, auth="required", namespace_auth={"/chat": "none"})
    url = str(srv.make_url("/"))

    async def attempt(namespace: str, auth: dict[str, Any]) -> list[Any]:
        client = socketio.AsyncClient(reconnection=False)
        errors: list[Any] = []
        client.on("connect_error", errors.append, namespace=namespace)
        try:
            await client.connect(url, namespaces=[namespace], auth=auth, wait_timeout=5)
        except socketio.exceptions.ConnectionError:
            pass
        finally:
            await client.disconnect()
            await client.shutdown()
        return errors

    assert await attempt("/test", {}) == [REFUSAL["unauthorized"]]  # the default: required
    assert await attempt("/test", {"token": token(aud=None, iss=None)}) == []
    assert await attempt("/chat", {"token": "not a token at all"}) == []  # none: not read


async def test_leeway_accepts_small_clock_skew(connect: Connect) -> None:
    client = await connect(["/test"], auth={"token": token(nbf=int(time.time()) + 1)})
    assert (await client.call("whoami", namespace="/test", timeout=5))["sub"] == "u-1"


async def test_optional_namespace_anonymous_or_verified(connect: Connect) -> None:
    anonymous = await connect(["/test"])
    assert await anonymous.call("whoami", namespace="/test", timeout=5) is None
    known = await connect(["/test"], auth={"token": token(sub="u-9", role="admin")})
    claims = await known.call("whoami", namespace="/test", timeout=5)
    assert claims["sub"] == "u-9" and claims["role"] == "admin"
    # a bad token is not downgraded to anonymous
    bad = {"token": token(key="y" * 40)}
    assert await refused(connect, "/test", bad) == REFUSAL["token_invalid"]


async def test_a_falsy_token_is_refused_not_downgraded_to_anonymous(
    start_server: StartServer,
) -> None:
    """In an optional namespace no token (absent, null, "") is anonymous; a token that is sent
    is checked, a falsy one too: 0, false, [] and {} are refused as invalid, over both wire
    formats."""
    srv = await start_server(serializer="auto", **AUTH_SETTINGS)
    url = str(srv.make_url("/"))

    async def attempt(serializer: str, auth: dict[str, Any]) -> Any:
        """The connect_error, or what ``whoami`` says once connected."""
        client = socketio.AsyncClient(serializer=serializer, reconnection=False)
        seen: list[Any] = []
        client.on("connect_error", seen.append, namespace="/test")
        try:
            await client.connect(url, namespaces=["/test"], auth=auth, wait_timeout=5)
            return await client.call("whoami", namespace="/test", timeout=5)
        except socketio.exceptions.ConnectionError:
            assert len(seen) == 1, seen
            return seen[0]
        finally:
            await client.disconnect()
            await client.shutdown()

    for serializer in ("default", "msgpack"):
        for bad in (0, False, [], {}):
            refusal = await attempt(serializer, {"token": bad})
            assert refusal == REFUSAL["token_invalid"], (serializer, bad)
        for nothing in ({}, {"token": None}, {"token": ""}):
            assert await attempt(serializer, nothing) is None, (serializer, nothing)


async def test_chat_name_falls_back_to_sub_and_never_trusts_the_client(connect: Connect) -> None:
    client = await connect(["/chat"], auth={"token": token(name=None, sub="user-7")})
    reply = await client.call("join", {"room": "r", "name": "Mallory"}, namespace="/chat")
    assert reply == {"room": "r", "members": ["user-7"]}


async def test_chat_name_from_a_token_loses_control_characters(connect: Connect) -> None:
    client = await connect(["/chat"], auth={"token": token(name="\x1b[31mAl\x00ice\n\t")})
    reply = await client.call("join", {"room": "r", "name": "Mallory"}, namespace="/chat")
    assert reply == {"room": "r", "members": ["[31mAlice"]}


async def test_identity_is_dropped_on_disconnect(connect: Connect, server: Any) -> None:
    from socketsvc.app.factory import SIO

    client = await connect(["/test"], auth={"token": token()})
    sio = server.app[SIO]
    assert identities(sio) == {client.get_sid("/test"): "u-1"}
    assert (await client.call("whoami", namespace="/test", timeout=5))["sub"] == "u-1"
    assert sio.security.state_size() == 1  # the connection's event bucket
    await client.disconnect()
    await eventually(lambda: sio.security.state_size() == 0 and not sio.connections)
    assert identities(sio) == {} and sio.connections.state_size() == 0


def identities(sio: Any) -> dict[str, str | None]:
    """sid -> ``sub`` of the authenticated connections in ``sio``'s connection table."""
    return {r.sid: r.lifetime.identity.subject for r in sio.connections if r.lifetime}


async def test_each_refusal_is_one_log_line_with_namespace_and_code(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    await refused(connect, "/chat", {})
    await refused(connect, "/test", {"token": "not.a.jwt"})
    records = [r for r in caplog.records if r.name == "socketsvc.security"]
    assert [r.getMessage() for r in records] == [
        "refused connect to /chat: unauthorized",
        "refused connect to /test: token_invalid",
    ]
    assert [r.namespace for r in records] == ["/chat", "/test"]  # type: ignore[attr-defined]


@pytest.mark.logs_tracebacks  # the crash case
@pytest.mark.parametrize("refusal", [{"reject": True}, {"refuse": True}, {"crash": True}])
async def test_identity_is_dropped_when_the_connect_handler_refuses(
    connect: Connect, server: Any, refusal: dict[str, Any]
) -> None:
    from socketsvc.app.factory import SIO

    sio = server.app[SIO]
    assert (await refused(connect, "/test", {"token": token(), **refusal}))["message"]
    assert not sio.connections  # dropped before the refusal was sent
    kept = await connect(["/test"], auth={"token": token(sub="u-5")})
    assert (await kept.call("whoami", namespace="/test", timeout=5))["sub"] == "u-5"
    assert identities(sio) == {kept.get_sid("/test"): "u-5"}


# -- asymmetric keys ---------------------------------------------------------------------------
def _pem(key: Any) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def rsa_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _verify(settings: Settings, tok: str) -> Any:
    verifier = load_verifier(settings)
    assert verifier is not None
    return verifier.verify(tok)


def test_rs256_pem_and_no_algorithm_confusion(tmp_path: Path, rsa_key: Any) -> None:
    pem = tmp_path / "pub.pem"
    pem.write_bytes(_pem(rsa_key))
    settings = Settings(jwt_public_key_file=str(pem), auth="required")
    assert _verify(settings, token(rsa_key, "RS256")).subject == "u-1"

    # an HS256 token signed with the public key text as HMAC secret must not pass
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        + "."
        + b64(json.dumps({"sub": "x", "exp": int(time.time()) + 300}).encode())
    )
    mac = hmac.new(pem.read_bytes(), signing_input.encode(), hashlib.sha256).digest()
    forged_token = signing_input + "." + b64(mac)
    from socketsvc.security.auth import AuthRefused

    with pytest.raises(AuthRefused) as info:
        _verify(settings, forged_token)
    assert info.value.code == "token_invalid"


def test_es256_jwks_picks_key_by_kid(tmp_path: Path, rsa_key: Any) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwks = {
        "keys": [
            {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key())), "kid": "e1"},
            {
                **json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key())),
                "kid": "r1",
            },
        ]
    }
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks))
    settings = Settings(jwt_jwks_file=str(path), auth="required")
    assert _verify(settings, token(ec_key, "ES256", headers={"kid": "e1"})).subject == "u-1"
    assert _verify(settings, token(rsa_key, "RS256", headers={"kid": "r1"})).subject == "u-1"
    from socketsvc.security.auth import AuthRefused

    for tok in (
        token(ec_key, "ES256", headers={"kid": "r1"}),  # kid of another key
        token(ec_key, "ES256", headers={"kid": "nope"}),
        token(ec_key, "ES256"),  # no kid, several keys
    ):
        with pytest.raises(AuthRefused):
            _verify(settings, tok)


# -- bad configuration stops start-up, naming the setting ---------------------------------------
@pytest.mark.parametrize(
    ("files", "values", "setting"),
    [
        ({}, {"jwt_public_key_file": "/nonexistent/key.pem"}, "jwt_public_key_file"),
        ({"k.pem": "not a key"}, {"jwt_public_key_file": "k.pem"}, "jwt_public_key_file"),
        ({"j.json": "{"}, {"jwt_jwks_file": "j.json"}, "jwt_jwks_file"),
        ({"j.json": '{"keys": []}'}, {"jwt_jwks_file": "j.json"}, "jwt_jwks_file"),
        (
            {"j.json": '{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}'},
            {"jwt_jwks_file": "j.json"},
            "jwt_jwks_file",
        ),
        ({}, {"jwt_secret": "short"}, "jwt_secret"),
        ({}, {"jwt_secret": SECRET, "jwt_algorithms": ("RS256",)}, "jwt_algorithms"),
        ({}, {"auth": "required"}, "auth"),
        ({}, {"namespace_auth": {"/chat": "maybe"}}, "namespace_auth"),
        ({}, {"cors_origins": ("not an origin",)}, "cors_origins"),
        ({}, {"trusted_proxies": ("10.0.0.300",)}, "trusted_proxies"),
    ],
)
def test_bad_security_config_names_the_setting(
    tmp_path: Path, files: dict[str, str], values: dict[str, Any], setting: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    values = {
        k: str(tmp_path / v) if k.endswith("_file") and not v.startswith("/") else v
        for k, v in values.items()
    }
    from socketsvc.app.factory import create_app

    with pytest.raises(ConfigError) as info:
        create_app(Settings(**values))
    assert str(info.value).startswith(setting), info.value


def test_cli_exits_2_on_unreadable_key(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--port", "0", "--jwt-public-key-file", "/nonexistent.pem"])
    assert code == 2
    assert "jwt_public_key_file" in capsys.readouterr().err
