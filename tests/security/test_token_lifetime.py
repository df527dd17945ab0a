"""A token's lifetime on a live connection, seen by stock socket.io-client: ``auth:expiring``
before ``exp``, a server disconnect at ``exp + jwt_leeway``, ``auth:refresh`` to carry on.

Each stock-client test runs its sockets side by side in one Node process per wire format and
transport (the four run at once), so the few seconds the tokens take to expire are spent once.
Times are compared with the tokens' own ``exp`` (the server must not close a connection
before ``exp + jwt_leeway``), never with durations.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import StartServer
from tests.security.conftest import AUTH_SETTINGS, Sockets, run_sockets, token

LEEWAY = AUTH_SETTINGS["jwt_leeway"]
NOTICE = 2.0
SETTINGS: dict[str, Any] = {**AUTH_SETTINGS, "token_refresh_notice": NOTICE}


def closed_at_expiry(seen: dict[str, Any], exp: int) -> None:
    """A server disconnect, not before ``exp + jwt_leeway`` (client clock, same machine)."""
    assert seen["disconnect"] == "io server disconnect", seen
    assert seen["at"] >= (exp + LEEWAY) * 1000, (seen, exp)


async def test_expiry_refresh_and_a_changed_subject_with_stock_clients(
    start_server: StartServer, node: str
) -> None:
    srv = await start_server(**SETTINGS)
    now = int(time.time())
    exp1, exp2 = now + 4, now + 9  # exp2 - NOTICE comes after exp1 + LEEWAY
    sockets = [
        {  # never refreshes: told, then closed at exp + leeway
            "name": "expires",
            "namespace": "/test",
            "token": token(exp=exp1),
            "steps": [{"wait": "auth:expiring"}, {"disconnect": True}],
        },
        {  # refreshes when told: still connected when its second token's notice comes
            "name": "refreshes",
            "namespace": "/test",
            "token": token(exp=exp1),
            "steps": [
                {"wait": "auth:expiring"},
                {"emit": "auth:refresh", "args": [token(exp=exp2, role="renewed")]},
                {"wait": "auth:expiring"},
                {"emit": "expires"},
                {"emit": "whoami"},
                {"close": True},
            ],
        },
        {  # refreshes with someone else's token: refused, closed at its own expiry
            "name": "other_subject",
            "namespace": "/test",
            "token": token(exp=exp1),
            "steps": [
                {"wait": "auth:expiring"},
                {"emit": "auth:refresh", "args": [token(sub="u-2", exp=now + 60)]},
                {"emit": "expires"},
                {"disconnect": True},
            ],
        },
    ]
    for report in await run_sockets(node, str(srv.make_url("/")), sockets):
        expires = report["expires"]
        assert expires[1]["args"] == [{"exp": exp1}]
        closed_at_expiry(expires[2], exp1)

        refreshes = report["refreshes"]
        assert refreshes[1]["args"] == [{"exp": exp1}]
        assert refreshes[2]["ack"] == {"exp": exp2}
        assert refreshes[3]["args"] == [{"exp": exp2}]
        assert refreshes[3]["at"] >= (exp1 + LEEWAY) * 1000  # alive past the first expiry
        assert refreshes[4]["ack"] == exp2  # what handlers see: identity(sid).expires
        assert refreshes[5]["ack"]["role"] == "renewed"

        other = report["other_subject"]
        assert other[2]["ack"] == {
            "error": {
                "code": "token_subject_changed",
                "message": "a refreshed token must have the connection's subject",
            }
        }
        assert other[3]["ack"] == exp1  # the old token stays
        closed_at_expiry(other[4], exp1)


async def test_a_rooms_claim_narrowed_by_a_refresh_leaves_the_room(
    start_server: StartServer, node: str
) -> None:
    srv = await start_server(**SETTINGS)
    exp = int(time.time()) + 120

    def sockets(i: int) -> Sockets:
        private, lobby = f"private:{i}", f"lobby-{i}"
        claims = {"rooms": [private], "exp": exp}
        return [
            {
                "name": "eve",
                "namespace": "/chat",
                "token": token(sub="u-9", name="Eve", **claims),
                "steps": [{"emit": "join", "args": [{"room": private}]}, {"wait": "left"}],
            },
            {
                "name": "alice",
                "namespace": "/chat",
                "token": token(name="Alice", **claims),
                "steps": [
                    {"after": "eve", "steps": 1},
                    {"emit": "join", "args": [{"room": private}]},
                    {"emit": "join", "args": [{"room": lobby}]},
                    {"emit": "auth:refresh", "args": [token(name="Alice", exp=exp + 60)]},
                    {"emit": "members", "args": [{"room": private}]},
                    {"emit": "message", "args": [{"room": private, "text": "still here?"}]},
                    {"emit": "members", "args": [{"room": lobby}]},
                    {"emit": "join", "args": [{"room": private}]},
                    {"close": True},
                ],
            },
        ]

    reports = await run_sockets(node, str(srv.make_url("/")), sockets)
    for i, report in enumerate(reports):
        private, lobby = f"private:{i}", f"lobby-{i}"
        alice = report["alice"]
        assert sorted(alice[2]["ack"]["members"]) == ["Alice", "Eve"], report
        assert alice[4]["ack"] == {"exp": exp + 60, "left": [private]}
        assert alice[5]["ack"]["error"]["code"] == "not_in_room"
        assert alice[6]["ack"]["error"]["code"] == "not_in_room"
        assert alice[7]["ack"] == {"room": lobby, "members": ["Alice"]}
        assert alice[8]["ack"]["error"]["code"] == "forbidden"
        assert report["eve"][2]["args"] == [{"room": private, "name": "Alice"}]


@pytest.mark.parametrize("mode", ["none"])
async def test_refresh_where_no_token_is_read_answers_auth_not_required(
    start_server: StartServer, node: str, mode: str
) -> None:
    srv = await start_server(**{**SETTINGS, "namespace_auth": {"/test": mode}})
    sockets = [
        {
            "name": "anon",
            "namespace": "/test",
            "steps": [{"emit": "auth:refresh", "args": [token()]}, {"close": True}],
        }
    ]
    for report in await run_sockets(node, str(srv.make_url("/")), sockets):
        assert report["anon"][1]["ack"] == {
            "error": {"code": "auth_not_required", "message": "this namespace takes no token"}
        }
