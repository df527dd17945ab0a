"""Engine.IO v4 layer for socketsvc: python-engineio subclasses that follow
the protocol (and Node's engine.io) where stock python-engineio does not."""

from .server import EngineServer
from .session import EngineSocket

__all__ = ["EngineServer", "EngineSocket"]
