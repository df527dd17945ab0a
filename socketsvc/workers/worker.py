"""A worker's seat on the machine: what makes one full socketsvc node a worker of several on
the machine's shared port.

The primary starts a worker process (:mod:`socketsvc.app.worker`) with its listening sockets
inherited and a JSON spec on standard input (:func:`spec_of`: the settings, already checked,
and its seat: index, number of workers, the run directory). It serves like a single node (the
same ``serve`` path, SIGTERM drains it), with three differences: its backends are the
machine's (:mod:`.backends`), its session ids carry its tag, and requests for other workers'
sessions are handed over to them (:mod:`.handoff`). It stops when the primary is gone.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from socketsvc import config
from socketsvc.config import sources

from .client import HubClient
from .handoff import HandoffSite, handoff_path, route_to_owner
from .sockets import tag

log = logging.getLogger("socketsvc.workers")


def hub_path(rundir: str) -> str:
    return os.path.join(rundir, "hub.sock")


@dataclass(frozen=True)
class Worker:
    """This process's seat on the machine: worker ``index`` of ``workers``."""

    index: int
    workers: int
    rundir: str
    hub: HubClient
    listeners: tuple[socket.socket, ...]

    @property
    def tag(self) -> str:
        """What this worker's session ids start with."""
        return tag(self.index)

    def middleware(self, settings: config.Settings) -> Middleware:
        return route_to_owner(
            self.index, self.workers, self.rundir, "/socket.io/", settings.body_timeout
        )

    def sites(self, runner: web.AppRunner, backlog: int) -> list[web.BaseSite]:
        """The shared port's sockets, and where other workers hand connections over."""
        sites: list[web.BaseSite] = [
            web.SockSite(runner, sock, backlog=backlog) for sock in self.listeners
        ]
        sites.append(HandoffSite(runner, handoff_path(self.rundir, self.index)))
        return sites


def settings_of(values: dict[str, Any]) -> config.Settings:
    """Settings from the primary's JSON (lists back to tuples, as every source gives them;
    an unset setting, such as ``chat``, stays unset)."""
    cast: dict[str, Any] = {
        name: None if value is None else sources.cast(name, value, "the primary")
        for name, value in values.items()
    }
    return config.Settings(**cast)


def spec_of(settings: config.Settings, **seat: Any) -> str:
    """What the primary writes to a worker's standard input."""
    return json.dumps({"settings": dataclasses.asdict(settings), **seat})
