"""Helpers shared by test modules that must not import conftest (which imports them).

A test that needs a tool the suite cannot run without (node, npm packages, redis-server,
nginx, chromium, docker-compose) asks for it here and nowhere else: ``require_executable`` or
``require_path``. Both fail the test under CI, where ``bash scripts/test`` installs everything,
and skip it on a developer's machine that lacks the tool. A bare ``pytest.skip`` or ``skipif``
would skip in CI as well, and a missing tool would go unnoticed there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

# scripts/lib.sh is_ci: these values of CI (and CI unset) mean "not CI"; any other value is CI.
NOT_CI = frozenset({"", "0", "false", "False", "FALSE", "no"})


def in_ci(environ: dict[str, str] | None = None) -> bool:
    """Whether the tests run under CI, decided exactly as ``scripts/lib.sh`` ``is_ci`` does."""
    return (os.environ if environ is None else environ).get("CI", "") not in NOT_CI


def missing(what: str) -> NoReturn:
    """A tool the tests need is absent: a failure in CI, where ``bash scripts/test`` installs
    it, and a skip on a developer's machine that lacks it."""
    if in_ci():
        pytest.fail(f"{what} is required in CI (bash scripts/test installs it)")
    pytest.skip(f"{what} is missing (bash scripts/test installs it)")


def checked_in_another_run(reason: str) -> NoReturn:
    """Not a missing tool: this test belongs to another run of the same suite (scripts/test
    runs it on each Python; the check is made on one of them). A skip, also in CI."""
    pytest.skip(reason)


def require_executable(name: str, *, also: tuple[str, ...] = (), hint: str = "") -> str:
    """The path of executable ``name`` (found on PATH, else at one of the ``also`` paths), or
    :func:`missing`."""
    found = shutil.which(name)
    if found is not None:
        return found
    for path in also:
        if os.access(path, os.X_OK):
            return path
    missing(f"{name}{f' ({hint})' if hint else ''}")


def require_path(path: Path, what: str) -> Path:
    """``path`` if it exists (a file or a directory a tool installed), or :func:`missing`."""
    if not path.exists():
        missing(what)
    return path
