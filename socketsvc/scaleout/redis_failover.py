"""What keeps the recovery stream exact when its Redis changes under the nodes.

**A failover** (Sentinel promotes a replica): an append whose answer was lost is retried on
the new primary, so an append must be idempotent. With Sentinel each append carries a key
(node and sequence number) and goes through :data:`APPEND_ONCE`, which appends only if the key
is not there yet and otherwise answers the id given the first time; key and entry replicate
together (a script's effects are one transaction). ``WAIT`` after it gives the replica a moment
to hold the entry before the emit counts as done. An entry a reader saw on the old primary
that never reached the replica is appended again, with the same key, and readers drop the
repeat by that key (:class:`RecentKeys`).

**A restart without persistence** (the stream is gone, new ids may be anything): the epoch key
holds the first id of the stream's life: the Redis clock when the first node found it empty
(:data:`EPOCH`). A
node whose epoch changed reads the new stream from its start, and an offset older than the
epoch is never resumed (its client connects fresh): the entries after it may be gone.
"""

from __future__ import annotations

from collections import deque

# KEYS: stream, append key; ARGV: maxlen, packed emit, origin, key's ttl (ms), key's tail
APPEND_ONCE = """
local id = redis.call('GET', KEYS[2])
if id then return id end
id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'm', ARGV[2], 'o', ARGV[3],
                'k', ARGV[5])
redis.call('SET', KEYS[2], id, 'PX', ARGV[4])
return id
"""

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
