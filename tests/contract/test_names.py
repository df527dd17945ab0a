"""Names and patterns in the published contract."""

from __future__ import annotations

import pytest

from socketsvc.contract.names import type_prefix
from socketsvc.contract.shapes import python_only


@pytest.mark.parametrize(
    "path, prefix",
    [
        ("/", "Root"),
        ("/auction", "Auction"),
        ("/chat", "Chat"),
        ("/board/*", "Board"),
        ("/*", "Root"),
        ("/my-app/v2.rooms", "MyAppV2Rooms"),
        ("/2fa", "Ns2fa"),
        ("/snake_case", "SnakeCase"),
    ],
)
def test_interface_names_come_from_the_path_in_pascal_case(path: str, prefix: str) -> None:
    assert type_prefix(path) == prefix


@pytest.mark.parametrize(
    "regex, problem",
    [
        (r"[^\x00-\x1f]+", None),
        (r"[A-Z]{3}-\d{4}", None),
        (r"(?:ab)+|(?=c)d(?!e)(?<=f)", None),
        (r"\++[+]+a{2}", None),
        (r"[a\]]+", None),
        (r"(?P<word>\w+)", "a (?P...) group"),
        (r"(a)(?P=x)", "a (?P...) group"),
        (r"\Aabc", r"\A"),
        (r"abc\Z", r"\Z"),
        (r"(?i)abc", "'(?i'"),
        (r"(?-i:a)", "'(?-'"),
        (r"(?#comment)a", "'(?#'"),
        (r"(?>a+)b", "'(?>'"),
        (r"a++", "a possessive quantifier"),
        (r"a{2}+", "a possessive quantifier"),
        (r"[]a]", "']' first in a character class"),
        (r"[^]a]", "']' first in a character class"),
    ],
)
def test_python_only_regex_syntax_is_found(regex: str, problem: str | None) -> None:
    assert python_only(regex) == problem
