"""Engine.IO v4 for socketsvc: sessions, long-polling, websocket, framing.

Knows nothing of Socket.IO: the application gives the server an
:class:`~socketsvc.engine.policy.EnginePolicy` and a message handler when it is built.
"""

from ._aiohttp import answer_and_close
from .policy import EnginePolicy
from .server import EngineServer, MessageHandler
from .session import EngineSession

__all__ = [
    "EnginePolicy",
    "EngineServer",
    "EngineSession",
    "MessageHandler",
    "answer_and_close",
]
