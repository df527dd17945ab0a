"""What keeps the recovery stream exact when its Redis changes under the nodes.

**A failover** (Sentinel promotes a replica): an append whose answer was lost is retried on
the new primary, so an append must be idempotent. With Sentinel each emit carries a key (node
and sequence number, ``node#n``, also its entry's origin) as the once-key of the APPEND script
(recovery_scripts.py): a retry appends only what is not there yet. Key and entry replicate
together (a script's effects are one transaction), and ``WAIT`` after it gives the replica a
moment to hold the entry before the emit counts as done (:func:`replicated`). An entry a reader
saw on the old primary that never reached the replica is appended again with the same key, and
readers drop the repeat by that key (:class:`RecentKeys`).

**A restart without persistence** (the stream is gone, new ids may be anything): the epoch key
holds the first id of the stream's life: the Redis clock when the first node found it empty
(:data:`EPOCH`). A
node whose epoch changed reads the new stream from its start, and an offset older than the
epoch is never resumed (its client connects fresh): the entries after it may be gone.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from redis import asyncio as aioredis

# KEYS: epoch key, stream. The epoch, when missing: just before the stream's first entry (a
# Redis kept across an upgrade: its offsets stay valid), else just before the Redis clock's
# now. "Just before" (a millisecond earlier): an entry may take the epoch's millisecond, and
# it must come after the epoch, which is where a session starting then begins.
EPOCH = """
local epoch = redis.call('GET', KEYS[1])
if epoch then return epoch end
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
local ms
if first then
  ms = tonumber(string.match(first[1], '^(%d+)'))
else
  local now = redis.call('TIME')
  ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
end
epoch = string.format('%d-0', ms - 1)
redis.call('SET', KEYS[1], epoch)
return epoch
"""

WAIT_REPLICAS_MS = 250  # how long an append waits for a replica before it counts as done


class RecentKeys:
    """The append keys of the last ``size`` entries a node delivered: a repeat is dropped."""

    def __init__(self, size: int = 50_000) -> None:
        self._order: deque[bytes] = deque()
        self._keys: set[bytes] = set()
        self.size = size

    def first(self, key: bytes) -> bool:
        """True the first time ``key`` is seen (and remembers it); empty keys always pass."""
        if not key:
            return True
        if key in self._keys:
            return False
        self._keys.add(key)
        self._order.append(key)
        if len(self._order) > self.size:
            self._keys.discard(self._order.popleft())
        return True


def append_key(fields: Any) -> bytes:
    """A stream entry's append key: with Sentinel its origin is ``node#n``; else empty."""
    origin: bytes = fields.get(b"o", b"")
    return origin if b"#" in origin else b""


async def replicated(redis: aioredis.Redis, script: Any, keys: list[str], args: list[Any]) -> Any:
    """``script``'s answer, after ``WAIT`` gave a replica the moment to hold what it wrote."""
    pipe = redis.pipeline(transaction=False)
    await script(keys=keys, args=args, client=pipe)
    pipe.wait(1, WAIT_REPLICAS_MS)
    return (await pipe.execute())[0]


class Epoch:
    """The recovery stream's epoch as this node last learnt it ("0-0": not yet)."""

    def __init__(self, redis: aioredis.Redis, stream: str) -> None:
        self.keys = [f"{stream}:epoch", stream]
        self.value = "0-0"
        self._script = redis.register_script(EPOCH)

    async def learn(self) -> bool:
        """Ask Redis (making the epoch when missing); True when it changed since last time:
        Redis restarted empty."""
        raw = await self._script(keys=self.keys)
        value = raw.decode() if isinstance(raw, bytes) else str(raw)
        changed = self.value not in ("0-0", value)
        self.value = value
        return changed

    def differs(self, raw: Any) -> bool:
        """Whether ``raw`` (the epoch key's value as read, None when missing) is not it."""
        return raw is None or (raw.decode() if isinstance(raw, bytes) else str(raw)) != self.value

    def before(self, ms: int, seq: int) -> bool:
        """Whether the offset ``ms-seq`` is from before the epoch (an older stream)."""
        epoch_ms, _, epoch_seq = self.value.partition("-")
        return (ms, seq) < (int(epoch_ms), int(epoch_seq or 0))
