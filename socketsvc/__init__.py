"""socketsvc: a Socket.IO-compatible real-time event server on aiohttp and python-socketio."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
