"""What a client that comes back has missed: whether its place in the recovery stream can be
resumed, and the entries after it that were meant for it (the replay), for
:class:`~socketsvc.scaleout.redis_recovery.RedisRecovery`."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from redis import asyncio as aioredis

from socketsvc.scaleout.redis_failover import Epoch, RecentKeys, append_key
from socketsvc.scaleout.redis_health import RedisHealth
from socketsvc.sio.recovery import REPLAY_SLICE, Session, Stored, Unavailable

# id, namespace, rooms (None: all), skipped sids, event args with the offset last
Entry = tuple[str, str, frozenset[str] | None, frozenset[str], list[Any]]


def ids(entry_id: str) -> tuple[int, int]:
    """A stream entry id as a pair that compares in stream order."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def as_text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


class StreamReplay:
    """Resuming a place in the stream and replaying what followed it."""

    redis: aioredis.Redis
    stream: str
    link: RedisHealth
    epoch: Epoch

    def _decode(self, raw_id: Any, fields: Any) -> Entry | None:
        raise NotImplementedError

    async def resumable(self, session: Session, offset: str | None) -> bool:
        after = offset if offset is not None else session.start
        if after is None:
            return False
        try:
            if self.epoch.before(*ids(after)):
                return False  # from before Redis restarted empty: what followed may be gone
            info = await self.redis.xinfo_stream(self.stream)
        except ValueError:
            return False
        except Exception as exc:
            if "no such key" in str(exc).lower():  # nothing stored since the epoch
                return ids(after) in ((0, 0), ids(self.epoch.value))
            self.link.mark_down(exc)
            return False
        deleted = as_text(info.get("max-deleted-entry-id", b"0-0"))
        last = as_text(info.get("last-generated-id", b"0-0"))
        # Everything after the client's place must still be there, and the place must exist.
        if not ids(deleted) <= ids(after) <= ids(last):
            return False
        # The stream's MAXLEN trims the oldest entries, which Redis does not count as deleted:
        # the place is still kept, or nothing was ever trimmed (its place may be before the
        # first entry then), or the client missed nothing. Else what followed it may be gone.
        first = info.get("first-entry")
        if first and ids(after) >= ids(as_text(first[0])):
            return True
        return ids(after) == ids(last) or info.get("entries-added") == info.get("length")

    async def missed(
        self, session: Session, offset: str | None, upto: str
    ) -> AsyncGenerator[list[list[Any]], None]:
        cursor = offset if offset is not None else session.start
        if cursor is None or ids(cursor) >= ids(upto):
            return
        appended = RecentKeys()  # an entry appended again after a failover: replayed once
        while True:
            read = self.redis.xrange(self.stream, min=f"({cursor}", max=upto, count=REPLAY_SLICE)
            try:
                items: Any = await read
            except Exception as exc:
                self.link.mark_down(exc)
                raise Unavailable(str(exc)) from None
            wanted = []
            for raw_id, fields in items:
                cursor = as_text(raw_id)
                if not appended.first(append_key(fields)):
                    continue
                args = self._wanted(session, raw_id, fields)
                if args is not None:
                    wanted.append(args)
            if wanted:
                yield wanted
            if len(items) < REPLAY_SLICE:
                return

    def _wanted(self, session: Session, raw_id: Any, fields: Any) -> list[Any] | None:
        """A stream entry's event arguments (offset last) if the session's client was meant
        to receive it, else None."""
        entry = self._decode(raw_id, fields)
        if entry is None or entry[1] != session.namespace:
            return None
        stored = Stored(entry[0], entry[2], entry[3], entry[4], 0, 0.0)
        return stored.args if stored.wanted_by(session.sid, session.rooms) else None
