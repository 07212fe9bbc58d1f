-- wait_leave: a waiter cancels, disconnects or reaches its deadline: it leaves the queue at once,
-- and an offered seat it did not claim goes to the next waiter.
--
-- KEYS: the pool layout of prelude.lua.
-- @agent agent id
-- Returns (payload):
--   status LEFT | status GONE

local agent = @agent
local now = now_ms()
purge(now)

local waiter = load_waiter(agent)
if not waiter then
  return finish({'status', 'GONE'})
end
if waiter.offer then
  local lease = load_lease(waiter.offer)
  if lease then
    drop_lease(waiter.offer, lease, 'released', agent)
  end
end
dequeue(agent)
redis.call('HDEL', K_WAITERS, agent)
redis.call('ZREM', K_WAITER_LIFE, agent)
QUEUE_CHANGED = true
return finish({'status', 'LEFT'})
