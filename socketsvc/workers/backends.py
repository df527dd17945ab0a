"""The backends of a worker of several on one machine (``--workers N`` with ``memory``): rooms,
broadcasts, presence, recovery, the chat archive and cluster requests shared through the
primary's hub (the ``local_*`` modules). With ``redis`` a worker is a node of the cluster like
any other (:func:`socketsvc.scaleout.backends.make_backends`)."""

from __future__ import annotations

from socketsvc.scaleout.backends import Backends
from socketsvc.sio.observer import Observer
from socketsvc.sio.recovery import Windows

from .client import HubClient
from .local_manager import LocalManager
from .local_recovery import LocalRecovery
from .local_requests import LocalRequests
from .local_state import LocalArchive, LocalPresence


def worker_backends(hub: HubClient, windows: Windows, observer: Observer) -> Backends:
    recovery = LocalRecovery(hub, windows)
    manager = LocalManager(hub, recovery, observer)
    return Backends(
        manager=manager,
        presence=LocalPresence(hub),
        recovery=recovery,
        archive=LocalArchive(hub),
        cluster=LocalRequests(hub, manager),
    )
