"""The collaborators a handler module receives through its constructor."""

from __future__ import annotations

from dataclasses import dataclass

from socketsvc.config import Settings
from socketsvc.scaleout.archive import ChatArchive
from socketsvc.scaleout.presence import Presence


@dataclass(frozen=True)
class Services:
    """Shared per-node objects; built once by the app factory, never global."""

    settings: Settings
    presence: Presence
    archive: ChatArchive
