-- usage: the pool's live numbers for the Seats & Devices page.
--
-- KEYS: the pool layout of prelude.lua.
-- Returns (payload): {seats in use, today's peak, today's refusals, live leases of any seat type, agents waiting}

local now = now_ms()
purge(now)
return finish({
  redis.call('HLEN', K_HOLDERS),
  tonumber(redis.call('HGET', K_STATS, stats_field(now, 'peak')) or '0'),
  tonumber(redis.call('HGET', K_STATS, stats_field(now, 'refused')) or '0'),
  redis.call('ZCARD', K_LEASES),
  redis.call('ZCARD', K_QUEUE),
})
