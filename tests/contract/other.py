"""A second module with a payload class named like one in kitchen.py."""

from __future__ import annotations

from typing import TypedDict


class Req(TypedDict):
    note: str
