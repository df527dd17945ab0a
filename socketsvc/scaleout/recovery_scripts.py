"""The Lua scripts of the Redis recovery log (redis_recovery.py): each is one atomic step, so
no other node's step can come between its reads and its writes.

- ``CLAIM`` moves a session to ``rlive`` under the claimer: from ``rsess`` (kept), or from
  ``rlive`` (its old connection may still be open somewhere).
- ``PERSIST`` keeps (or forgets) a live session, only for its holder.
- ``TRACK`` updates a live session, only for its holder (or creates it for a new one).
- ``APPEND`` appends a batch of emits to the stream, each unless its once-key was sent already
  (sio/once.py), and answers the entries from the node's position up to the last.
"""

# KEYS rsess, rlive; ARGV holder, ttl (ms). The session, and its holder when it was live
# (else ''); or nil.
CLAIM = """
local s, previous = redis.call('GET', KEYS[1]), ''
if s then redis.call('DEL', KEYS[1]) else
  s = redis.call('HGET', KEYS[2], 'session')
  if not s then return false end
  previous = redis.call('HGET', KEYS[2], 'holder') or '?'
end
redis.call('HSET', KEYS[2], 'holder', ARGV[1], 'session', s)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return {s, previous}
"""
# KEYS rlive, rsess; ARGV session, window (ms, 0: forget), holder.
PERSIST = """
if redis.call('HGET', KEYS[1], 'holder') ~= ARGV[3] then return 0 end
redis.call('DEL', KEYS[1])
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]) end
return 1
"""
# KEYS rlive, rsess; ARGV holder, session, ttl (ms). Created only for a session kept nowhere.
TRACK = """
local h = redis.call('HGET', KEYS[1], 'holder')
if h == ARGV[1] or (not h and redis.call('EXISTS', KEYS[2]) == 0) then
  redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'session', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 0
"""
# KEYS stream, then per emit its sent key (the stream's when it has none); ARGV maxlen,
# position, then per emit body, origin, answer, ttl (ms; 0: no key). Per emit {1, id}, or
# {0, answer} when its key was sent already; and the entries after position, up to the last.
APPEND = """
local out, last = {}, false
for i = 1, (#ARGV - 2) / 4 do
  local at = 2 + (i - 1) * 4
  local earlier = false
  if ARGV[at + 4] ~= '0' then earlier = redis.call('GET', KEYS[i + 1]) end
  if earlier then out[i] = {0, earlier} else
    last = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
                      'm', ARGV[at + 1], 'o', ARGV[at + 2])
    if ARGV[at + 4] ~= '0' then
      redis.call('SET', KEYS[i + 1], ARGV[at + 3], 'PX', ARGV[at + 4])
    end
    out[i] = {1, last}
  end
end
if not last then return {out, {}} end
return {out, redis.call('XRANGE', KEYS[1], '(' .. ARGV[2], last)}
"""
