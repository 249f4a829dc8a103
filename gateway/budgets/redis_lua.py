"""The Lua scripts behind the Redis budget store: one per operation, each atomic.

Key layout (all keys of one call share the ``{tag}`` hash tag, so Redis Cluster keeps them
in one slot):

    <ns>:{<tag>}:<kind>:<scope>:<owner>:<window id>      hash    u=used  h=held  r:<id>=tokens
    <ns>:{<tag>}:<kind>:<scope>:<owner>:<window id>:z    zset    reservation id -> expiry ms
    <ns>:{<tag>}:r:<reservation id>                      string  "<granted> <reserved-at ms>
                                                                  <valid-until ms> <settled 0|1>"

``h`` is the sum of live holds; a hold lapses when its expiry score is <= now and is
purged (subtracted from ``h``) by the next script touching that bucket. Window keys get
their expiry (``key slack`` after the window ends) once, when a script creates them; every
later write finds them alive, so the common path spends no calls on PEXPIRE. All times
come from the caller (``now`` in ms).
"""

from __future__ import annotations

# KEYS: record, then (bucket, zset) per limit.
# ARGV: id, now_ms, until_ms, record_ttl_ms, tokens, requests, shrink(0|1), min_tokens,
#       then (kind b|t|r, amount, key_ttl_ms) per limit.
# Returns {status, granted, refused index (1-based, 0 = none), reserved at ms, used_1, held_1,
# used_2, ...} with status 0 granted, 1 refused, 2 repeat of a live reservation (granted and
# reserved-at are the original ones), 3 id already settled.
# The admission rule mirrors admission.decide().
RESERVE = """
local n = (#KEYS - 1) / 2
local rid, now = ARGV[1], tonumber(ARGV[2])
local field = 'r:' .. rid
local used, held, fresh, kind, amount, ttl = {}, {}, {}, {}, {}, {}
for i = 1, n do
  local b, z, a = KEYS[2 * i], KEYS[2 * i + 1], 6 + 3 * i
  kind[i], amount[i], ttl[i] = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
  local state = redis.call('HMGET', b, 'u', 'h')
  fresh[i] = not state[1] and not state[2]
  used[i], held[i] = tonumber(state[1]) or 0, tonumber(state[2]) or 0
  if kind[i] ~= 'r' and held[i] > 0 then
    local lapsed = redis.call('ZRANGEBYSCORE', z, '-inf', ARGV[2])
    if #lapsed > 0 then
      for _, id in ipairs(lapsed) do
        local f = 'r:' .. id
        held[i] = held[i] - (tonumber(redis.call('HGET', b, f)) or 0)
        redis.call('HDEL', b, f)
      end
      redis.call('ZREMRANGEBYSCORE', z, '-inf', ARGV[2])
      redis.call('HSET', b, 'h', held[i])
    end
  end
end
local function reply(status, granted, refused, at)
  local out = {status, granted, refused, at}
  for i = 1, n do
    out[#out + 1] = used[i]
    out[#out + 1] = held[i]
  end
  return out
end
local prior = redis.call('GET', KEYS[1])
if prior then
  local t, a, x, s = string.match(prior, '^(%d+) (%d+) (%d+) (%d)$')
  if tonumber(x) > now then
    if s == '1' then
      return {3, 0, 0, 0}
    end
    return reply(2, tonumber(t), 0, tonumber(a))
  end
end
local tokens, requests = tonumber(ARGV[5]), tonumber(ARGV[6])
local granted = tokens
local tightest, tightest_left = 0, 0
for i = 1, n do
  if kind[i] == 'b' then
    local left = amount[i] - used[i] - held[i]
    if tightest == 0 or left < tightest_left then
      tightest, tightest_left = i, left
    end
  end
end
if tightest > 0 and tightest_left < granted then
  if ARGV[7] == '1' and tightest_left >= tonumber(ARGV[8]) then
    granted = tightest_left
  else
    return reply(1, 0, tightest, now)
  end
end
for i = 1, n do
  local left = amount[i] - used[i] - held[i]
  if (kind[i] == 't' and left < granted) or (kind[i] == 'r' and left < requests) then
    return reply(1, 0, i, now)
  end
end
for i = 1, n do
  local b, z = KEYS[2 * i], KEYS[2 * i + 1]
  local wrote = true
  if kind[i] == 'r' then
    used[i] = redis.call('HINCRBY', b, 'u', requests)
  elseif granted > 0 then
    -- No live holds means the hold set is empty, so ZADD creates it: give it its expiry.
    local new_set = held[i] == 0
    held[i] = held[i] + granted
    redis.call('HSET', b, 'h', held[i], field, granted)
    redis.call('ZADD', z, ARGV[3], rid)
    if new_set then
      redis.call('PEXPIRE', z, ttl[i])
    end
  else
    wrote = false
  end
  if wrote and fresh[i] then
    redis.call('PEXPIRE', b, ttl[i])
  end
end
redis.call('SET', KEYS[1], granted .. ' ' .. ARGV[2] .. ' ' .. ARGV[3] .. ' 0', 'PX', ARGV[4])
return reply(0, granted, 0, now)
"""

# KEYS: record, then (bucket, zset) per token bucket still worth writing.
# ARGV: id, used_tokens, now_ms, tombstone_until_ms, tombstone_ttl_ms, then key_ttl_ms per bucket.
# Returns 1 when this call counted the usage, 0 for a repeat.
SETTLE = """
local record = redis.call('GET', KEYS[1])
local granted, at = '0', '0'
if record then
  local t, a, x, s = string.match(record, '^(%d+) (%d+) (%d+) (%d)$')
  if s == '1' and tonumber(x) > tonumber(ARGV[3]) then
    return 0
  end
  granted, at = t, a
end
local rid, used = ARGV[1], tonumber(ARGV[2])
local field = 'r:' .. rid
for i = 1, (#KEYS - 1) / 2 do
  local b, z = KEYS[2 * i], KEYS[2 * i + 1]
  local held = redis.call('HGET', b, field)
  if held then
    redis.call('HINCRBY', b, 'h', -tonumber(held))
    redis.call('HDEL', b, field)
    redis.call('ZREM', z, rid)
  end
  if used > 0 then
    redis.call('HINCRBY', b, 'u', used)
    if not held then
      -- The hold had lapsed: this bucket may have expired and just been re-created.
      redis.call('PEXPIRE', b, ARGV[5 + i])
    end
  end
end
redis.call('SET', KEYS[1], granted .. ' ' .. at .. ' ' .. ARGV[4] .. ' 1', 'PX', ARGV[5])
return 1
"""

# KEYS: (bucket, zset) per limit. ARGV: now_ms, then kind per limit. Read-only.
# Returns {used_1, held_1, ...} with holds lapsed at now_ms left out.
USAGE = """
local out = {}
for i = 1, #KEYS / 2 do
  local b, z = KEYS[2 * i - 1], KEYS[2 * i]
  local state = redis.call('HMGET', b, 'u', 'h')
  local held = tonumber(state[2]) or 0
  if ARGV[i + 1] ~= 'r' then
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', z, '-inf', ARGV[1])) do
      held = held - (tonumber(redis.call('HGET', b, 'r:' .. id)) or 0)
    end
  end
  out[#out + 1] = tonumber(state[1]) or 0
  out[#out + 1] = held
end
return out
"""
