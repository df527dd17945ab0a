"""Publish to socketsvc clients, or close their connections, from any Python process:
``from socketsvc.emitter import Emitter`` (the path README.md and deploy/README.md show; the
code lives in :mod:`socketsvc.scaleout.emitter`)."""

from socketsvc.scaleout.emitter import Emitter

__all__ = ["Emitter"]
