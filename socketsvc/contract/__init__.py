"""The event contract of a configuration's handler modules, published as TypeScript types and
an AsyncAPI 3.0 document (``socketsvc contract``): what clients send, what they get back,
what the server sends them, read from the annotations the server validates with."""

from __future__ import annotations

from socketsvc.config import Settings

from .model import Contract, ContractError, build

__all__ = ["FORMATS", "Contract", "ContractError", "build", "render"]

FORMATS = ("typescript", "asyncapi")


def render(settings: Settings, format: str) -> str:
    """The contract of ``settings``' namespaces in ``format``; raises ``ConfigError`` (a
    handler module that does not load) or :class:`ContractError`."""
    contract = build(settings)
    if format == "typescript":
        from .typescript import render as typescript

        return typescript(contract)
    from .asyncapi import render as asyncapi

    return asyncapi(contract)
