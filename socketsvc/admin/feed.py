"""What the Admin UI is told: an :class:`~socketsvc.sio.observer.Observer` that writes down
what happens, for :class:`~socketsvc.admin.namespace.AdminNamespace` to send.

Hooks run in the middle of the server's work, so nothing is sent from them: each appends a
small tuple to a bounded queue (the oldest entries go first when admins cannot keep up) and
asks for a flush on a later loop turn. While no admin is connected the hooks return at once,
except that connect times are kept for the socket list. Traffic is counted per second for the
UI's charts, as the Admin UI's Node server does: connections and disconnections here, packets
and bytes from the engine's running totals at each stats tick. The admin namespace itself is
left out of everything it reports.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from socketsvc.engine.traffic import Traffic
from socketsvc.handlers.services import ServiceKey
from socketsvc.sio.observer import Observer

MAX_QUEUE = 2000  # admin events waiting to be sent; older ones are dropped first
MAX_SENT_REPORTS = 50  # event_sent entries per emit (a broadcast reaches many)
TRAFFIC = ("packetsIn", "bytesIn", "packetsOut", "bytesOut")  # in Traffic.totals() order

Entry = tuple[str, tuple[Any, ...]]  # (Admin UI event, its raw arguments)


def now() -> float:
    return time.time()


class AdminFeed(Observer):
    """Records happenings for the Admin UI while somebody watches."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.watching = False  # an admin is connected
        self.queue: deque[Entry] = deque(maxlen=MAX_QUEUE)
        self.connected_at: dict[tuple[str, str], float] = {}  # (namespace, sid) -> time
        self._counts: dict[tuple[int, str, str | None], int] = {}  # per-second traffic
        self._traffic_at: tuple[int, tuple[int, ...]] | None = None  # last take: second, totals
        self._wake: Callable[[], None] = lambda: None

    def on_entries(self, wake: Callable[[], None]) -> None:
        """``wake()`` is called (synchronously) when the queue gains entries after being empty."""
        self._wake = wake

    def _put(self, event: str, *args: Any) -> None:
        empty = not self.queue
        self.queue.append((event, args))
        if empty:
            self._wake()

    def _count(self, kind: str, sub: str | None = None, by: int = 1) -> None:
        key = (int(now()), kind, sub)
        self._counts[key] = self._counts.get(key, 0) + by

    def take_counts(self, traffic: Traffic) -> list[dict[str, Any]]:
        """The per-second counts since the last call, as the UI's aggregatedEvents.

        Packets and bytes are the growth of the engine's ``traffic`` totals since the last
        call, spread evenly over the whole seconds in between (the totals are not sampled
        every second). The first call after nobody watched only takes the starting point."""
        second, totals = int(now()), traffic.totals()
        if self._traffic_at is not None:
            since, before = self._traffic_at
            seconds = range(since, second) or range(second, second + 1)
            for kind, now_total, then in zip(TRAFFIC, totals, before, strict=True):
                share, rest = divmod(now_total - then, len(seconds))
                for s in seconds:
                    count = share + (rest if s == seconds[-1] else 0)
                    if count:
                        key = (s, kind, None)
                        self._counts[key] = self._counts.get(key, 0) + count
        self._traffic_at = (second, totals) if self.watching else None
        counts, self._counts = self._counts, {}
        out = []
        for (second, kind, sub), count in counts.items():
            entry: dict[str, Any] = {"timestamp": second * 1000, "type": kind, "count": count}
            if sub is not None:
                entry["subType"] = sub
            out.append(entry)
        return out

    # -- engine ------------------------------------------------------------------------------

    def transport_opened(self, eio_sid: str, transport: str) -> None:
        if self.watching:
            self._count("rawConnection")

    def transport_upgraded(self, eio_sid: str) -> None:
        if self.watching:
            self._put("socket_updated", eio_sid)

    def transport_closed(self, eio_sid: str, reason: str) -> None:
        if self.watching:
            self._count("rawDisconnection", reason)

    # -- Socket.IO ---------------------------------------------------------------------------

    def namespace_connected(self, namespace: str, sid: str, eio_sid: str) -> None:
        if namespace == self.namespace:
            return
        self.connected_at[namespace, sid] = now()
        if self.watching:
            self._put("socket_connected", namespace, sid, eio_sid, now())

    def namespace_disconnected(self, namespace: str, sid: str, reason: str) -> None:
        if namespace == self.namespace:
            return
        self.connected_at.pop((namespace, sid), None)
        if self.watching:
            self._put("socket_disconnected", namespace, sid, reason, now())

    def event_received(self, namespace: str, sid: str, args: list[Any]) -> None:
        if self.watching and namespace != self.namespace:
            self._put("event_received", namespace, sid, list(args), now())

    def emitted(
        self, namespace: str, room: Any, skip_sid: Any, args: list[Any], recipients: int
    ) -> None:
        if self.watching and namespace != self.namespace and recipients:
            self._put("event_sent", namespace, room, skip_sid, list(args), now())

    def room_joined(self, namespace: str, room: str, sid: str) -> None:
        if self.watching and namespace != self.namespace:
            self._put("room_joined", namespace, room, sid, now())

    def room_left(self, namespace: str, room: str, sid: str) -> None:
        if self.watching and namespace != self.namespace:
            self._put("room_left", namespace, room, sid, now())


ADMIN_FEED: ServiceKey[AdminFeed] = ServiceKey("admin_feed", AdminFeed)
"""The node's feed, provided by the app factory when the Admin UI is on."""
