-- wait_status: a waiter's replica asks where it stands, claims its offered seat, and keeps it alive.
--
-- KEYS: the pool layout of library/01_call.lua.
-- @agent agent id
-- @ttl_ms lease ttl (ms)
-- @waiter_life_ms how long the waiter lives without a refresh (ms)
-- Returns (payload):
--   status GRANTED, lease_id, expires_ms, fence, seat: the offer was claimed, a full lease now
--   status QUEUED, position (1 = next), in_use, waiting, why, about, cap (see queued() in library/08_views.lua)
--   status ENDED, reason (SEAT_WITHDRAWN | REVOKED), by, at_ms: an admin's change ended the wait (end_wait in library/06_leases.lua)
--   status GONE: not waiting any more (left, dropped as dead, or its offer expired unclaimed)

local agent, ttl = @agent, int_arg('ttl_ms', @ttl_ms, 1000, 86400000)
local waiter_life = int_arg('waiter_life_ms', @waiter_life_ms, 1, 86400000)

local now = now_ms()
purge(now)

local waiter = load_waiter(agent)
if not waiter then
  local ending = wait_ending(agent)
  if ending then
    return finish({'status', 'ENDED', 'reason', ending.reason, 'by', ending.by, 'at_ms', ending.at})
  end
  return finish({'status', 'GONE'})
end
if waiter.offer then
  redis.call('HDEL', K_WAITERS, agent)
  redis.call('ZREM', K_WAITER_LIFE, agent)
  local lease = load_lease(waiter.offer)
  if not lease then
    return finish({'status', 'GONE'})
  end
  schedule(K_LEASES, now + ttl, lease_member(waiter.offer))
  return finish({'status', 'GRANTED', 'lease_id', waiter.offer, 'expires_ms', now + ttl, 'fence', lease.fence, 'seat', lease.seat})
end

schedule(K_WAITER_LIFE, now + waiter_life, agent)
return finish(queued(agent, waiter.group or '', tonumber(redis.call('HGET', K_EPOCH, 'limit') or '0')))
