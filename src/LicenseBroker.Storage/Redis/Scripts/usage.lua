-- usage: the pool's live numbers for the Seats & Devices page.
--
-- KEYS: the pool layout of prelude.lua.
-- Returns (payload):
--   in_use (shared seats), peak, refused and reclaimed (today's: seats taken back from PENDING or
--   idle sessions), live (leases of any seat type), waiting

local now = now_ms()
purge(now)
return finish({
  'in_use', redis.call('HLEN', K_HOLDERS),
  'peak', tonumber(redis.call('HGET', K_STATS, stats_field(now, 'peak')) or '0'),
  'refused', tonumber(redis.call('HGET', K_STATS, stats_field(now, 'refused')) or '0'),
  'reclaimed', tonumber(redis.call('HGET', K_STATS, stats_field(now, 'reclaimed')) or '0'),
  'live', redis.call('ZCARD', K_LEASES),
  'waiting', redis.call('ZCARD', K_QUEUE),
})
