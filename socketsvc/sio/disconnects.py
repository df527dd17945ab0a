"""Which connections to close on purpose, on every node: by a token's subject, by sid, or
everyone in a room.

A :class:`Selection` comes from ``POST /api/v1/disconnect``, from
:meth:`socketsvc.emitter.Emitter.disconnect`, or from another node over the bus (method
``disconnect_clients``); each node closes its own matching connections with a DISCONNECT packet
for their namespace (stock clients see ``io server disconnect`` and do not reconnect by
themselves).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from socketsvc.config.checks import NAMESPACE_PATTERN

FIELDS = ("subject", "sid", "namespace", "room")
MAX_LENGTH = 256  # of each field, as rooms in the publish API


@dataclass(frozen=True)
class Selection:
    """Exactly one of ``subject`` (every connection whose token has this ``sub``), ``sid``
    (one namespace connection) or ``room`` (everyone in it, with ``namespace``). ``namespace``
    narrows a subject or sid to one namespace; a room needs it."""

    subject: str | None = None
    sid: str | None = None
    namespace: str | None = None
    room: str | None = None

    def __post_init__(self) -> None:
        for name in FIELDS:
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, str) or not 1 <= len(value) <= MAX_LENGTH
            ):
                raise ValueError(
                    f"{name}: must be a non-empty string of at most {MAX_LENGTH} characters"
                )
        namespace = self.namespace
        if namespace is not None and (not NAMESPACE_PATTERN.match(namespace) or "*" in namespace):
            raise ValueError("namespace: must be a namespace path such as '/chat'")
        given = [name for name in ("subject", "sid", "room") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("body: give exactly one of subject, sid, or namespace and room")
        if self.room is not None and namespace is None:
            raise ValueError("namespace: required with room")

    @classmethod
    def of(cls, body: Any) -> Selection:
        """From a JSON body or a bus message; ``ValueError`` names the first bad field."""
        if not isinstance(body, Mapping):
            raise ValueError("body: must be a JSON object")
        unknown = sorted(set(body) - set(FIELDS))
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown field")
        return cls(**{name: body[name] for name in FIELDS if body.get(name) is not None})

    def fields(self) -> dict[str, str]:
        """The fields that are set (a bus message's payload)."""
        return {name: value for name, value in asdict(self).items() if value is not None}

    def matches(
        self, manager: Any, of_subject: Callable[[str], list[tuple[str, str]]]
    ) -> list[tuple[str, str]]:
        """``(sid, namespace)`` of the connections on this node that match, from the room
        table of ``manager`` and ``of_subject`` (the authenticated connections by ``sub``)."""
        namespace = self.namespace
        if self.subject is not None:
            found = of_subject(self.subject)
            return [m for m in found if namespace is None or m[1] == namespace]
        if self.sid is not None:
            namespaces = [namespace] if namespace is not None else list(manager.rooms)
            return [(self.sid, ns) for ns in namespaces if manager.is_connected(self.sid, ns)]
        assert namespace is not None
        if self.room not in manager.rooms.get(namespace, {}):
            return []
        return [(sid, namespace) for sid, _ in manager.get_participants(namespace, self.room)]
