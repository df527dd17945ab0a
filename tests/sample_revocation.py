"""Deny-list hooks the tests name in ``revoked_hook``, as a deployment would name its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REVOKED_IDS: set[str] = {"revoked-jti"}  # what a real hook would look up in its store


async def revoked(claims: Mapping[str, Any]) -> bool:
    """A token is revoked when its ``jti`` is listed; a ``boom`` claim makes the hook fail."""
    if claims.get("boom"):
        raise ConnectionError("deny-list store unreachable")
    return claims.get("jti") in REVOKED_IDS


def not_async(claims: Mapping[str, Any]) -> bool:
    return False


async def no_arguments() -> bool:
    return False
