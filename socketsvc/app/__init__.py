"""The aiohttp application of one node: the factory, the runner, health, the API.

``create_app`` is public (README "The public API"): code that embeds a node imports it here."""

from socketsvc.app.factory import create_app

__all__ = ["create_app"]
