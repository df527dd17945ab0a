"""The lazy environ (engine/environ.py) answers exactly what python-engineio's copied one did."""

from __future__ import annotations

from aiohttp.test_utils import make_mocked_request
from engineio.async_drivers.aiohttp import translate_request
from multidict import CIMultiDict

from socketsvc.engine.environ import RequestEnviron

HEADERS = CIMultiDict(
    [
        ("Host", "chat.example.com"),
        ("Origin", "https://chat.example.com"),
        ("Authorization", "Bearer abc"),
        ("X-Forwarded-For", "10.0.0.1"),
        ("X-Forwarded-For", "10.0.0.2"),
        ("X-Forwarded-Proto", "https"),
        ("Content-Type", "text/plain"),
        ("Content-Length", "12"),
        ("X_Under_Score", "kept"),
        ("Cookie", "a=1; b=2"),
    ]
)


def test_same_keys_and_values_as_translate_request() -> None:
    request = make_mocked_request("GET", "/socket.io/?EIO=4&transport=polling", headers=HEADERS)
    copied = translate_request(request)
    lazy = RequestEnviron(request, lambda r: "203.0.113.9")
    assert set(lazy) == set(copied)
    assert len(lazy) == len(copied)
    for key, value in copied.items():
        if key != "REMOTE_ADDR":  # python-engineio's driver always says 127.0.0.1
            assert lazy[key] == value, key
    assert lazy["REMOTE_ADDR"] == "203.0.113.9"
    assert lazy.copy() == {**copied, "REMOTE_ADDR": "203.0.113.9"}
    assert lazy["HTTP_X_FORWARDED_FOR"] == "10.0.0.1,10.0.0.2"
    assert lazy["wsgi.url_scheme"] == "https"
    assert lazy["aiohttp.request"] is request


def test_missing_keys_behave_as_in_a_dict() -> None:
    lazy = RequestEnviron(make_mocked_request("GET", "/", headers={"Host": "h"}))
    assert lazy.get("HTTP_AUTHORIZATION") is None
    assert "HTTP_ORIGIN" not in lazy
    assert "HTTP_HOST" in lazy
    assert lazy.get("CONTENT_TYPE", "none") == "none"
    assert lazy["wsgi.url_scheme"] == "http"
