-- live: how many live leases each of some agents holds in the pool (expired ones dropped first).
--
-- KEYS: the pool layout of prelude.lua.
-- ARGV[1..] agent ids
-- Returns (payload): {count for ARGV[1], count for ARGV[2], ...}

local now = now_ms()
purge(now)

local counts = {}
for i = 1, #ARGV do
  counts[i] = tonumber(redis.call('HGET', K_AGENT_LEASES, ARGV[i]) or '0')
end
return finish(counts)
