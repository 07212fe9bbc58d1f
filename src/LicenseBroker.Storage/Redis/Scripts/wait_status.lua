-- wait_status: a waiter's replica asks where it stands, claims its offered seat, and keeps it alive.
--
-- KEYS: the pool layout of library/01_call.lua.
-- @agent agent id
-- @ttl_ms lease ttl (ms)
-- @waiter_life_ms how long the waiter lives without a refresh (ms)
-- Returns (payload):
--   status GRANTED, lease_id, expires_ms, fence, seat: the offer was claimed, a full lease now
--   status QUEUED, position (1 = next), in_use, waiting, why, about, cap, priority, eta_ms, deadline_in_ms, key, since_ms,
--     deadline_ms
--     (see queued() in library/09_views.lua)
--   status ENDED, reason (SEAT_WITHDRAWN | REVOKED | QUEUE_TIMEOUT), by, at_ms: an admin's change ended the wait (end_wait
--     in library/07_queue.lua), or its max wait passed (time_out_wait)
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

keep_waiting(agent, waiter, now, waiter_life)
-- The queue hands out no seat in a recovery window (promote): the first status call after its end does.
promote(now) -- position 0 when it offered this waiter a seat: the next status call claims it
return finish(queued(agent, waiter, tonumber(redis.call('HGET', K_EPOCH, 'limit') or '0'), now))
