"""Who the client is and where its page comes from: security/proxies.py and origins.py on real
HTTP requests.

A small aiohttp app answers each request with what ``TrustedProxies`` and ``OriginPolicy``
make of it, so every header combination is one request away (the TCP peer is 127.0.0.1). The
server-level effects (429 per address, 403 for a foreign origin) are in test_access.py."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from socketsvc.errors import ConfigError
from socketsvc.security.origins import MAX_LOGGED_ORIGINS, OriginPolicy
from socketsvc.security.proxies import TrustedProxies

Probe = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def probe(aiohttp_client: Any) -> Callable[..., Awaitable[Probe]]:
    """``await probe(trusted, cors)`` -> ``ask(headers)``, which returns what the checks say."""

    async def make(trusted: tuple[str, ...] = (), cors: tuple[str, ...] = ()) -> Probe:
        proxies = TrustedProxies(trusted)
        origins = OriginPolicy(cors, proxies)

        async def handle(request: web.Request) -> web.Response:
            return web.json_response(
                {
                    "client": proxies.client_address(request),
                    "proto": proxies.forwarded(request, "X-Forwarded-Proto"),
                    "own": origins.own_origin(request),
                    "allowed": origins.allows(request),
                }
            )

        app = web.Application()
        app.router.add_get("/", handle)
        client = await aiohttp_client(app)

        async def ask(**headers: str) -> dict[str, Any]:
            headers = {k.replace("_", "-"): v for k, v in headers.items()}
            async with client.get("/", headers=headers) as response:
                result: dict[str, Any] = await response.json()
                result["host"] = f"{client.host}:{client.port}"
                return result

        return ask

    return make


# -- trusted proxies ---------------------------------------------------------------------------
async def test_forwarded_headers_count_only_from_a_trusted_peer(probe: Any) -> None:
    direct = await probe()
    got = await direct(X_Forwarded_For="1.2.3.4", X_Forwarded_Proto="https")
    assert (got["client"], got["proto"]) == ("127.0.0.1", None)
    other = await probe(trusted=("10.0.0.0/8",))  # a proxy list that is not this peer
    got = await other(X_Forwarded_For="1.2.3.4", X_Forwarded_Proto="https")
    assert (got["client"], got["proto"]) == ("127.0.0.1", None)
    behind = await probe(trusted=("127.0.0.1",))
    got = await behind(X_Forwarded_For="1.2.3.4", X_Forwarded_Proto=" https , http")
    assert (got["client"], got["proto"]) == ("1.2.3.4", "https")
    assert (await behind(X_Forwarded_Proto="https,http"))["proto"] == "https"
    assert (await behind())["client"] == "127.0.0.1"  # no header: the proxy itself
    assert (await behind())["proto"] is None


@pytest.mark.parametrize(
    ("chain", "client"),
    [
        ("1.1.1.1, 2.2.2.2", "2.2.2.2"),  # the right-most hop the trusted proxy saw
        ("1.1.1.1,10.0.0.5", "1.1.1.1"),  # trusted hops are skipped
        ("10.0.0.1, 10.0.0.2", "10.0.0.1"),  # all trusted: the left-most
        ("1.1.1.1, garbage, 10.0.0.5", "10.0.0.5"),  # garbled: nothing further left counts
        ("garbage", "127.0.0.1"),
        ("", "127.0.0.1"),
        (" 2001:db8::1 ", "2001:db8::1"),
        ("9.9.9.9, " + ", ".join(f"10.0.0.{i}" for i in range(40)), "10.0.0.8"),  # 32 hops
    ],
)
async def test_the_client_is_the_right_most_untrusted_hop(
    probe: Any, chain: str, client: str
) -> None:
    ask = await probe(trusted=("127.0.0.1/32", "10.0.0.1/8"))  # not strict: host bits allowed
    assert (await ask(X_Forwarded_For=chain))["client"] == client


def test_a_bad_proxy_entry_names_the_setting() -> None:
    with pytest.raises(ConfigError) as info:
        TrustedProxies(("10.0.0.0/8", "10.0.0.300"))
    assert str(info.value) == "trusted_proxies: '10.0.0.300' is not an IP address or CIDR"
    assert not TrustedProxies(("10.0.0.0/8",)).trusts("not an address")
    assert not TrustedProxies(("10.0.0.0/8",)).trusts(None)
    assert not TrustedProxies(()).trusts("10.0.0.1")


# -- origins -------------------------------------------------------------------------------------
async def test_same_origin_listed_origins_and_non_browsers(probe: Any) -> None:
    ask = await probe(cors=("https://App.example/", "http://other.example:8080"))
    assert (await ask())["allowed"] is True  # no Origin: not a browser
    own = (await ask())["own"]
    assert own == f"http://{(await ask())['host']}"
    assert (await ask(Origin=own))["allowed"] is True
    assert (await ask(Origin=own.upper() + "/"))["allowed"] is True
    for origin in ("https://app.example", " HTTPS://APP.EXAMPLE/ ", "http://other.example:8080"):
        assert (await ask(Origin=origin))["allowed"] is True, origin
    refused = ("http://app.example", "https://app.example.evil", "https://app.exampleX")
    for origin in (*refused, "null", "https://other"):
        assert (await ask(Origin=origin))["allowed"] is False, origin
    # an Origin that is sent is checked, even an empty one; same origin includes the scheme
    host = (await ask())["host"]
    for origin in ("", " ", f"https://{host}", f"ws://{host}", host):
        assert (await ask(Origin=origin))["allowed"] is False, origin
    for cors in (("*",), ("https://app.example", "*")):  # "*" beside others: still anyone
        anyone = await probe(cors=cors)
        assert (await anyone(Origin="https://whatever.example"))["allowed"] is True, cors
    one_letter = await probe(cors=("https://X",))  # a host name may be one letter
    assert (await one_letter(Origin="https://x"))["allowed"] is True


async def test_own_origin_follows_a_trusted_proxy_only(probe: Any) -> None:
    forwarded = {"X_Forwarded_Proto": "https", "X_Forwarded_Host": "public.example"}
    behind = await probe(trusted=("127.0.0.1",))
    assert (await behind(**forwarded))["own"] == "https://public.example"
    assert (await behind(Origin="https://public.example", **forwarded))["allowed"] is True
    assert (await behind(X_Forwarded_Proto="https"))["own"].startswith("https://127.0.0.1:")
    direct = await probe()
    assert (await direct(**forwarded))["own"].startswith("http://127.0.0.1:")
    assert (await direct(Origin="https://public.example", **forwarded))["allowed"] is False


@pytest.mark.parametrize("entry", ["app.example", "ftp://app.example", "https://a.example/path"])
@pytest.mark.parametrize("before", ["https://fine.example", "*"])
def test_a_bad_cors_entry_names_the_setting(entry: str, before: str) -> None:
    with pytest.raises(ConfigError) as info:
        OriginPolicy((before, entry), TrustedProxies(()))
    assert str(info.value) == (
        f"cors_origins: {entry!r} is not an origin like 'https://app.example.com'"
    )


async def test_refusals_are_logged_once_per_origin_and_at_most_a_thousand(
    probe: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="socketsvc.security.origins")
    ask = await probe()
    long = "https://" + "x" * 300 + ".example"
    for origin in ("https://evil.example", "https://EVIL.example/", long, long):
        assert (await ask(Origin=origin))["allowed"] is False
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "refused origin 'https://evil.example' (peer 127.0.0.1): not in cors_origins; "
        "further requests from it are refused silently",
        f"refused origin {long[:200]!r} (peer 127.0.0.1): not in cors_origins; "
        "further requests from it are refused silently",
    ]
    # the client as a field of its own, for JSON logs (socketsvc.app.logs)
    assert [r.client for r in caplog.records] == ["127.0.0.1", "127.0.0.1"]  # type: ignore[attr-defined]
    caplog.clear()
    for n in range(MAX_LOGGED_ORIGINS + 5):
        assert (await ask(Origin=f"https://o{n}.example"))["allowed"] is False
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == MAX_LOGGED_ORIGINS - 2 + 1  # two were logged before; then one line
    assert lines[-1] == f"more than {MAX_LOGGED_ORIGINS} refused origins; no longer logging them"
    assert lines[-2] == (
        f"refused origin 'https://o{MAX_LOGGED_ORIGINS - 3}.example' (peer 127.0.0.1): "
        "not in cors_origins; further requests from it are refused silently"
    )
