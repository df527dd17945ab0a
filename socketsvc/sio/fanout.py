"""Local rooms and fan-out: who on this node receives an emit, and how it is encoded.

:class:`FanoutManager` replaces python-socketio's ``AsyncManager.emit``, which creates one
asyncio task per recipient and encodes for one wire format. Here an emit encodes its packet
once per wire format present among the recipients and queues the same frames on each
recipient's session synchronously. It is the manager for ``manager = "memory"`` and the local
delivery of the Redis one.

A restored client (sio/sessions.py) joins its rooms at once, but what is sent to it is held
back until it has received what it missed: each packet reaches it once, in order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from socketsvc import protocol
from socketsvc.errors import OncePerCause, Unencodable
from socketsvc.protocol import PacketClass

from ._socketio import ManagerBase
from .disconnects import Selection
from .observer import Observer
from .once import Once, SentOnce
from .records import ConnectionTable
from .recovery import Recorder, skipped, target

log = logging.getLogger("socketsvc.server")


class FanoutManager(ManagerBase):
    """In-memory rooms with encode-once-per-format delivery.

    Who sees an emit: every client in ``room`` (or in any of a list of rooms, or in the
    namespace when ``room`` is None) except ``skip_sid``. If the data cannot be encoded for a
    format some recipients use, those recipients do not receive it, everyone else does, and
    then :class:`~socketsvc.errors.Unencodable` (the first such format's) is raised to the
    emitter; the cause is logged once. In a namespace with recovery, an emit without ack
    callback that is not volatile is stored first (``recovery``) and carries its offset as
    last argument. An emit with ``once=Once(...)`` is made at most once per key (sio/once.py).
    """

    def __init__(
        self,
        *args: Any,
        recovery: Recorder | None = None,
        observer: Observer | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)  # cooperative: RedisManager puts this in its MRO
        self.recovery = recovery
        self.observer = observer or Observer()  # sees emits and room changes
        self.log_refusal = OncePerCause(log)
        # (namespace, sid) -> rooms it is in (None and its own sid room included), in join
        # order: python-socketio finds them by scanning every room of the namespace. A tuple
        # (replaced when it changes): every client has one, and few join many rooms.
        self._memberships: dict[tuple[str, str], tuple[Any, ...]] = {}
        # The node's namespace connections, one record each (records.py): kept here, with
        # python-socketio's other per-client state, and read by every emit (who restores).
        self.connections = ConnectionTable()
        self.sent_once = SentOnce()  # emits made once per key (a retried send)

    # -- lifecycle: nothing to start for memory, always healthy ------------------------------

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def problem(self) -> str | None:
        """Why this backend cannot serve right now (None: it can)."""
        return None

    # -- rooms -----------------------------------------------------------------------------

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        key = (namespace, sid)
        rooms = self._memberships.get(key, ())
        if room not in rooms:
            self._memberships[key] = (*rooms, room)
            if room is not None:
                self.observer.room_joined(namespace, room, sid)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        key = (namespace, sid)
        rooms = self._memberships.get(key)
        if rooms is None or room not in rooms:
            return
        if room is not None:
            self.observer.room_left(namespace, room, sid)
        rest = tuple(r for r in rooms if r != room)
        if rest:
            self._memberships[key] = rest
        else:
            del self._memberships[key]

    def reused_sid(self, eio_sid: str, namespace: str) -> str | None:
        joining = self.connections.joining.get((eio_sid, namespace))
        if joining is None or not joining.restoring or joining.record is None:
            return None
        return joining.record.sid

    async def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        """The connect's record: a fresh connection's from now on (a restored one has its
        own since the claim, and joins its rooms in the same step as the namespace)."""
        sid = await super().pre_connect(eio_sid, namespace)
        joining = self.connections.joining.get((eio_sid, namespace))
        if sid is None or joining is None:
            return sid
        if not joining.restoring:
            joining.record = self.connections.open(sid, namespace, eio_sid)
        elif joining.session is not None:
            for room in joining.session.rooms:
                self.basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        return sid

    def drop_elsewhere(self, sid: str, namespace: str, eio_sid: str) -> None:
        """Drop connection ``eio_sid`` of ``sid`` on another node: one node, none."""

    # -- restoring clients --------------------------------------------------------------------

    def _hold_back(
        self, sids: list[str], namespace: str, args: list[Any], encoded: dict[PacketClass, Any]
    ) -> Unencodable | None:
        """Hold event ``args`` for restoring clients, encoded in their formats."""
        failure = None
        for sid in sids:
            held = self.connections.held[sid]
            if held.overflowed:
                continue
            wire = self.server.format_of(held.eio_sid)
            frames = encoded.get(wire)
            if frames is None:
                try:
                    frames = encoded[wire] = protocol.encode_frames(
                        wire, protocol.EVENT, namespace, args
                    )
                except Unencodable as exc:
                    failure = failure or self._refused(exc, namespace)
                    continue
            held.frames.append(frames)
        return failure

    def rooms_of_client(self, sid: str, namespace: str) -> list[Any]:
        return list(self._memberships.get((namespace, sid), ()))

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        return [r for r in self._memberships.get((namespace, sid), ()) if r is not None]

    # -- targeted disconnects ----------------------------------------------------------------

    def publish_disconnect(self, selection: Selection) -> None:
        """Tell the other nodes to close their connections matching ``selection`` (the server
        closes this node's). In memory there is no other node."""
        return None

    # -- emit ------------------------------------------------------------------------------

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Callable[..., Any] | None = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        room = to if to is not None else room
        args = [event, *_as_args(data)]
        if callback is not None:
            self.deliver_with_acks(namespace, room, skip_sid, args, callback)
            return
        volatile = bool(kwargs.get("volatile"))  # dropped for clients with a backlog
        once: Once | None = kwargs.get("once")
        if once is not None and not self.sent_once.first(namespace, once):
            return  # sent already: once.earlier holds its answer
        recovery = self.recovery
        if volatile or recovery is None or not recovery.windows(namespace):
            self.deliver(namespace, room, skip_sid, args, volatile)
            return
        # Stored even when nobody is connected: clients that dropped will ask for it. Kept
        # when some format cannot carry it: the others received it, and may recover it. What
        # the log cannot keep is sent to nobody: a recovering client could not get it.
        try:
            offset = recovery.record(namespace, target(room), skipped(skip_sid), args)
        except Unencodable as exc:
            self.log_refusal(exc.cause, "not sent in %s: %s", namespace, exc.message)
            raise
        self.deliver(namespace, room, skip_sid, [*args, offset])

    def deliver_with_acks(
        self,
        namespace: str,
        room: Any,
        skip_sid: Any,
        args: list[Any],
        callback: Callable[..., Any],
    ) -> int:
        """Send event ``args`` to this node's clients in ``room``, each with an ack id whose
        answer calls ``callback``; how many were sent it. Raises the first
        :class:`Unencodable` after sending to everyone else (no ack is awaited from those
        it did not reach)."""
        if namespace not in self.rooms:
            self.observer.emitted(namespace, room, skip_sid, args, 0)
            return 0
        server = self.server
        skip = set(skip_sid) if isinstance(skip_sid, (list, tuple, set)) else {skip_sid}
        failure: Unencodable | None = None
        reached = 0
        held = self.connections.held
        for sid, eio_sid in list(self._recipients(namespace, room, skip)):
            ack_id = self.ack_id(sid, callback)
            try:
                frames = protocol.encode_frames(
                    server.format_of(eio_sid), protocol.EVENT, namespace, args, ack_id
                )
            except Unencodable as exc:
                self.drop_ack_id(sid, ack_id)  # no answer will come for it
                failure = failure or self._refused(exc, namespace)
                continue
            if held and sid in held:
                held[sid].frames.append(frames)
            else:
                server.eio.push(eio_sid, frames)
            reached += 1
        self.observer.emitted(namespace, room, skip_sid, args, reached)
        if failure is not None:
            raise failure
        return reached

    def deliver(
        self, namespace: str, room: Any, skip_sid: Any, args: list[Any], volatile: bool = False
    ) -> None:
        """Send event ``args`` to this node's clients in ``room``: encoded once per wire
        format present among them, queued on each session without a task. Raises the first
        format's :class:`Unencodable` after delivering to every other format."""
        if namespace not in self.rooms:
            self.observer.emitted(namespace, room, skip_sid, args, 0)
            return
        skip = set(skip_sid) if isinstance(skip_sid, (list, tuple, set)) else {skip_sid}
        server = self.server
        groups: dict[PacketClass, list[str]] = {}
        held = self.connections.held
        deferred: list[str] = []
        for sid, eio_sid in self._recipients(namespace, room, skip):
            if held and sid in held:
                deferred.append(sid)  # restoring: held back until it has what it missed
                continue
            wire = server.format_of(eio_sid)
            group = groups.get(wire)
            if group is None:
                group = groups[wire] = []
            group.append(eio_sid)
        failure = None
        recipients = 0
        encoded: dict[PacketClass, Any] = {}
        for wire, eio_sids in groups.items():
            try:
                frames = encoded[wire] = protocol.encode_frames(
                    wire, protocol.EVENT, namespace, args
                )
            except Unencodable as exc:
                failure = failure or self._refused(exc, namespace)
                continue
            recipients += len(eio_sids)
            if len(eio_sids) == 1:
                server.eio.push(eio_sids[0], frames, volatile)
            else:
                server.eio.push_many(eio_sids, frames, volatile)
        if deferred and not volatile:  # volatile: dropped, as for any client with a backlog
            refused = self._hold_back(deferred, namespace, args, encoded)
            failure = failure or refused
            recipients += len(deferred)
        self.observer.emitted(namespace, room, skip_sid, args, recipients)
        if failure is not None:
            raise failure

    def _refused(self, exc: Unencodable, namespace: str) -> Unencodable:
        self.log_refusal(exc.cause, "not delivered in %s: %s", namespace, exc.message)
        return exc

    def _recipients(self, namespace: str, room: Any, skip: set[Any]) -> Iterator[tuple[str, str]]:
        rooms = self.rooms[namespace]
        if room is None or isinstance(room, str):
            members = rooms.get(room)
            if members is not None:
                for sid, eio_sid in members.items():
                    if sid not in skip:
                        yield sid, eio_sid
            return
        seen: set[str] = set()
        for name in room:
            for sid, eio_sid in rooms.get(name, {}).items():
                if sid not in skip and sid not in seen:
                    seen.add(sid)
                    yield sid, eio_sid


def _as_args(data: Any) -> list[Any]:
    if isinstance(data, tuple):
        return list(data)
    return [] if data is None else [data]
