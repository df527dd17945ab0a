"""What the protocols that speak with Node's Redis adapters share: the requests this node is
waiting on, bad input counted once per cause, and values as Node's msgpack encoders write them.

Node's adapters count the nodes of a namespace (``PUBSUB NUMSUB`` of its request channel) and
wait for exactly that many answers; so does this node, and it answers every request it is
subscribed for, also the ones it cannot serve, so that nobody waits out a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgpack

from socketsvc.errors import ClusterTimeout, OncePerCause
from socketsvc.protocol.msgpack_format import UNDEFINED
from socketsvc.sio.cluster import SocketRecord
from socketsvc.sio.observer import Observer

log = logging.getLogger("socketsvc.bus")

DEFAULT_TIMEOUT = 5.0  # seconds, as Node's requestsTimeout


def request_id() -> str:
    return secrets.token_hex(8)


class _Waiting:
    __slots__ = ("answers", "done", "expected")

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.answers: list[Any] = []
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class Pending:
    """Requests this node sent: each waits for a known number of answers, or a timeout."""

    def __init__(self) -> None:
        self._waiting: dict[str, _Waiting] = {}

    def open(self, expected: int) -> str:
        """A new request id that awaits ``expected`` answers (at least one)."""
        rid = request_id()
        self._waiting[rid] = _Waiting(expected)
        return rid

    def answer(self, rid: Any, *values: Any) -> bool:
        """One node's answer (its ``values`` added to the result); False when no request
        with that id is open here (another node's, or one that timed out)."""
        waiting = self._waiting.get(rid) if isinstance(rid, str) else None
        if waiting is None:
            return False
        waiting.answers.extend(values)
        waiting.expected -= 1
        if waiting.expected <= 0 and not waiting.done.done():
            waiting.done.set_result(None)
        return True

    async def wait(self, rid: str, what: str, timeout: float) -> list[Any]:
        """Every answer to ``rid``; :class:`ClusterTimeout` with what arrived after ``timeout``."""
        waiting = self._waiting[rid]
        expected = waiting.expected
        try:
            await asyncio.wait_for(asyncio.shield(waiting.done), timeout)
        except TimeoutError:
            answered = expected - waiting.expected
            raise ClusterTimeout(what, answered, expected, waiting.answers) from None
        finally:
            self._waiting.pop(rid, None)
        return waiting.answers

    def __len__(self) -> int:
        return len(self._waiting)


class BadInput:
    """Bad input on the channels: counted in /metrics by cause, logged once per cause."""

    def __init__(self, observer: Observer, where: str) -> None:
        self.observer = observer
        self.where = where
        self._log = OncePerCause(log)

    def __call__(self, cause: str, detail: str = "") -> None:
        self.observer.bus_ignored(cause)
        self._log(
            cause,
            "ignoring input on %s: %s%s (counted in bus_ignored_total)",
            self.where,
            cause,
            f" ({detail[:120]})" if detail else "",
        )


# -- values as Node writes them ---------------------------------------------------------------


def _ext(code: int, payload: bytes) -> Any:
    """notepack's extension type 0: undefined (1 byte), Date (8), ArrayBuffer (any other)."""
    if code != 0:
        return None
    if len(payload) == 1:
        return UNDEFINED
    if len(payload) == 8:
        millis = int.from_bytes(payload[:4], "big", signed=True) * 2**32 + int.from_bytes(
            payload[4:], "big"
        )
        return _iso(millis)
    return bytes(payload)


def _iso(millis: int) -> str:
    """A JS Date as JSON.stringify writes it (what a JSON client would have received)."""
    moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


def _js(value: Any) -> Any:
    """JS semantics: an undefined member is absent, an undefined item null; a msgpack
    timestamp (@msgpack/msgpack's Date) its JSON string."""
    if isinstance(value, dict):
        return {k: _js(v) for k, v in value.items() if v is not UNDEFINED}
    if isinstance(value, list):
        return [None if v is UNDEFINED else _js(v) for v in value]
    if isinstance(value, msgpack.Timestamp):
        return _iso(value.to_unix_nano() // 1_000_000)
    return value


def node_unpack(raw: bytes) -> Any:
    """What Node's msgpack encoders (notepack.io, @msgpack/msgpack) packed, as Python values.
    Raises ValueError (and msgpack's own errors) on garbage."""
    value = msgpack.unpackb(raw, raw=False, strict_map_key=False, ext_hook=_ext, timestamp=0)
    return _js(value)


# -- sockets as Node's adapters describe them -------------------------------------------------


def node_socket(record: SocketRecord) -> dict[str, Any]:
    """A socket of this node as Node's ``fetchSockets`` answer lists it."""
    return {
        "id": record.id,
        "handshake": dict(record.handshake),
        "rooms": list(record.rooms),
        "data": record.data,
    }


def socket_record(namespace: str, value: Any) -> SocketRecord | None:
    """A socket another node listed; None when it is not one."""
    if not isinstance(value, Mapping) or not isinstance(value.get("id"), str):
        return None
    rooms = value.get("rooms")
    handshake = value.get("handshake")
    return SocketRecord(
        value["id"],
        namespace,
        tuple(r for r in rooms if isinstance(r, str)) if isinstance(rooms, list) else (),
        value.get("data"),
        handshake if isinstance(handshake, Mapping) else {},
    )


def str_list(value: Any) -> list[str]:
    """Rooms from another node's options: a list of strings (numbers as Node prints them)."""
    if not isinstance(value, list):
        return []
    return [v if isinstance(v, str) else str(v) for v in value if isinstance(v, str | int)]
