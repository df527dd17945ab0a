"""Publish to socketsvc clients from any Python process, without running a server.

    async with Emitter("redis://127.0.0.1:6379/0", prefix="socketsvc") as emitter:
        await emitter.emit("message", {"text": "deploy finished"}, namespace="/chat", to="ops")

Every socketsvc node on that Redis with the same ``redis_prefix`` delivers the event to its
clients in the room (at-most-once: nodes that are not subscribed at that moment miss it).
``await emitter.disconnect(subject="u-1")`` closes a user's connections on every node the same
way (also by ``sid``, or by ``namespace`` and ``room``).
Unlike a node, the emitter does wait for Redis and raises ``redis.RedisError`` (or
``OSError``) when the message could not be published, so the caller can retry.

``protocol`` is the nodes' ``redis_protocol``: with ``"socket.io"`` the emitter writes what
``@socket.io/redis-emitter`` writes, with ``"socket.io-streams"`` a Streams adapter entry, so
Node.js nodes of the cluster deliver it too (``prefix`` is then their ``key``).
"""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Any

from redis import asyncio as aioredis

from socketsvc.config.choices import DEFAULT_PREFIXES
from socketsvc.scaleout import bus
from socketsvc.scaleout import sio_classic_format as classic
from socketsvc.scaleout import sio_streams_format as streams
from socketsvc.scaleout.bus import stream_entry, stream_key
from socketsvc.scaleout.redis_client import redis_client
from socketsvc.sio.disconnects import Selection
from socketsvc.sio.recovery import skipped, target

STREAM_MAXLEN = 10_000  # as recovery_max_packets' default; the nodes trim it too
UID = "emitter"  # what @socket.io/redis-emitter calls itself


class Emitter:
    """A write-only member of the bus (modelled on ``AsyncRedisManager(write_only=True)``)."""

    def __init__(self, redis_url: str, prefix: str = "", protocol: str = "socketsvc") -> None:
        if protocol not in DEFAULT_PREFIXES:
            raise ValueError(f"protocol: {protocol!r} is not one of {', '.join(DEFAULT_PREFIXES)}")
        prefix = prefix or DEFAULT_PREFIXES[protocol]
        self.protocol = protocol
        self.prefix = prefix
        self.channel = bus.channel(prefix)
        self.stream = stream_key(prefix)
        self.host_id = f"emitter-{uuid.uuid4().hex}"
        self.redis: aioredis.Redis = redis_client(redis_url)

    async def emit(
        self,
        event: str,
        data: Any = None,
        *,
        namespace: str = "/",
        to: str | list[str] | None = None,
        skip_sid: str | list[str] | None = None,
        recoverable: bool = False,
    ) -> int:
        """Send ``event`` to the clients in room(s) ``to`` (all of ``namespace`` when None).

        ``data`` may be a tuple for several arguments and may contain bytes. Returns how many
        nodes were subscribed (Redis's count of receivers), or 1 for a ``recoverable`` emit.

        ``recoverable=True`` is for a namespace with connection-state recovery on its nodes:
        the emit is stored in the recovery stream (every node delivers it from there, with its
        offset), so clients that are away get it when they come back. Without it, the emit is
        delivered to whoever is connected and carries no offset.
        """
        args = [event, *(list(data) if isinstance(data, tuple) else [data])]
        if self.protocol != "socketsvc":
            return await self._emit_node_format(namespace, args, to, skip_sid, recoverable)
        if recoverable:
            fields = stream_entry(namespace, target(to), skipped(skip_sid), args)
            await self.redis.xadd(self.stream, fields, maxlen=STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]
            return 1
        message = {
            "method": "emit",
            "event": event,
            "data": list(data) if isinstance(data, tuple) else [data],
            "binary": False,
            "namespace": namespace,
            "room": to,
            "skip_sid": skip_sid,
            "callback": None,
            "host_id": self.host_id,
        }
        receivers: int = await self.redis.publish(self.channel, bus.encode(message))
        return receivers

    async def _emit_node_format(
        self, namespace: str, args: list[Any], to: Any, skip_sid: Any, recoverable: bool
    ) -> int:
        rooms = [] if to is None else [to] if isinstance(to, str) else list(to)
        skip = (
            [] if skip_sid is None else [skip_sid] if isinstance(skip_sid, str) else list(skip_sid)
        )
        packet = {"type": 2, "data": args, "nsp": namespace}
        opts: dict[str, Any] = {"rooms": rooms, "except": skip, "flags": {}}
        if self.protocol == "socket.io-streams":  # every broadcast is a stream entry
            data = {"packet": packet, "opts": opts}
            fields = streams.encode_entry(UID, namespace, streams.BROADCAST, data)
            await self.redis.xadd(self.prefix, fields, maxlen=STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]
            return 1
        if recoverable:  # socketsvc nodes take it from their stream, Node nodes from here
            stored = stream_entry(namespace, target(to), skipped(skip_sid), args)
            await self.redis.xadd(self.stream, stored, maxlen=STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]
            opts["flags"] = {classic.STORED: True}
        channel = f"{self.prefix}#{namespace}#" + (f"{rooms[0]}#" if len(rooms) == 1 else "")
        receivers: int = await self.redis.publish(channel, bus.pack([UID, packet, opts]))
        return receivers

    async def close_room(self, room: str, *, namespace: str = "/") -> int:
        """Make every client leave ``room`` on every node."""
        opts = {"rooms": [room], "except": []}
        if self.protocol == "socket.io-streams":
            data = {"opts": {**opts, "flags": {}}, "rooms": [room]}
            fields = streams.encode_entry(UID, namespace, streams.SOCKETS_LEAVE, data)
            await self.redis.xadd(self.prefix, fields, maxlen=STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]
            return 1
        if self.protocol == "socket.io":
            request = {
                "uid": UID,
                "type": classic.REMOTE_LEAVE,
                "opts": opts,
                "rooms": [room],
            }
            left: int = await self.redis.publish(
                f"{self.prefix}-request#{namespace}#", bus.pack(request)
            )
            return left
        message = {"method": "close_room", "room": room, "namespace": namespace}
        receivers: int = await self.redis.publish(
            self.channel, bus.encode({**message, "host_id": self.host_id})
        )
        return receivers

    async def disconnect(
        self,
        *,
        subject: str | None = None,
        sid: str | None = None,
        namespace: str | None = None,
        room: str | None = None,
    ) -> int:
        """Close connections on every node: every one whose token has ``sub`` = ``subject``,
        the one namespace connection ``sid``, or everyone in ``room`` of ``namespace``
        (``namespace`` beside ``subject`` or ``sid`` narrows them to it). The clients get a
        DISCONNECT for the namespace. Returns how many nodes were subscribed; raises
        ``ValueError`` naming a bad argument (exactly one of subject, sid, room)."""
        selection = Selection(subject=subject, sid=sid, namespace=namespace, room=room)
        message = {"method": bus.DISCONNECT_CLIENTS, **selection.fields()}
        receivers: int = await self.redis.publish(
            self.channel, bus.encode({**message, "host_id": self.host_id})
        )
        return receivers

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def __aenter__(self) -> Emitter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
