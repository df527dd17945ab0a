"""Helpers shared by test modules that must not import conftest (which imports them)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(what: str) -> NoReturn:
    """A tool the tests need is absent: a failure in CI, where ``bash scripts/test`` installs
    it, and a skip on a developer's machine that lacks it."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI (bash scripts/test installs it)")
    pytest.skip(f"{what} is missing (bash scripts/test installs it)")
