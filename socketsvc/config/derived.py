"""Values derived from the settings (or the machine) where they are used, not stored in them."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .settings import Settings


def cores() -> int:
    """The CPUs this process may run on (its affinity; a container's CPU quota is not seen)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def serves_chat(settings: Settings) -> bool:
    """Whether the built-in ``/chat`` runs: ``chat`` when set, else only on the embedded
    defaults (an app that declares its own ``[namespaces]`` opts in with ``chat = true``)."""
    return not settings.namespaces if settings.chat is None else settings.chat


def node_name(settings: Settings) -> str:
    """The node's id in logs, metrics and the Admin UI: ``node_id``, else ``<host>-<pid>``."""
    return settings.node_id or f"{socket.gethostname()}-{os.getpid()}"


def search_path(settings: Settings) -> list[str]:
    """Where handler modules are looked for, before the installed packages: ``handler_path``
    (which ends with the config file's directory when there is one), then the working
    directory."""
    seen: dict[str, None] = {}
    for entry in (*settings.handler_path, os.getcwd()):
        seen.setdefault(os.path.abspath(entry), None)
    return list(seen)
