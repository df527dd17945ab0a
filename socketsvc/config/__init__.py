"""Settings in one place: defaults < TOML file < ``SOCKETSVC_*`` environment < command-line flags.

Every setting is a field of :class:`Settings` (settings.py) with its default and a one-line doc
(the values a choice may take: choices.py); :func:`load` (sources.py) reads the file, the
environment and the flags into one; checks.py names the first bad setting; derived.py has what
is computed from them (node_name, search_path, ...). Only ``Settings`` and ``load`` are public.
"""

from __future__ import annotations

from .settings import Settings
from .sources import load

__all__ = ["Settings", "load"]
