"""Version checks for the dependencies whose private names socketsvc touches.

Each fence module (``engine/_aiohttp.py``, ``engine/_engineio.py``, ``sio/_socketio.py``) calls
:func:`require` at import: a release it was not written for stops start-up with a message that
says what to install, instead of failing later in some corner of the protocol.
"""

from __future__ import annotations

import re
from importlib import metadata


class IncompatibleDependency(RuntimeError):
    """An installed dependency is outside the range socketsvc was written and tested for."""


def release(version: str) -> tuple[int, ...]:
    """``"3.14.5"`` -> ``(3, 14, 5)``; pre-release and local suffixes are ignored."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


def require(distribution: str, at_least: tuple[int, ...], below: tuple[int, ...]) -> str:
    """The installed version of ``distribution``, or :class:`IncompatibleDependency`."""
    installed = metadata.version(distribution)
    if not at_least <= release(installed) < below:
        wanted = f">={'.'.join(map(str, at_least))},<{'.'.join(map(str, below))}"
        raise IncompatibleDependency(
            f"socketsvc needs {distribution}{wanted} (it relies on that release's internals, "
            f"fenced and tested for it); {installed} is installed. "
            f"Install a supported release: pip install '{distribution}{wanted}'"
        )
    return installed
