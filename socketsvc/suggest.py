"""“Did you mean …?” for names a user typed: settings, tables, environment variables, flags,
handler modules and classes. Standard library only (the emitter distribution ships it)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, choices: Iterable[str], shown: str = "{}") -> str:
    """``"; did you mean X?"`` for the closest of ``choices`` (each written as ``shown``
    formats it), or ``""`` when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    if not close and name.lower() != name:
        close = difflib.get_close_matches(name.lower(), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {shown.format(close[0])}?" if close else ""
