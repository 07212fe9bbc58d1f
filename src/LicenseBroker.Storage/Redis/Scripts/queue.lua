-- queue: the agents waiting for a shared seat, in order, for the admin center.
--
-- KEYS: the pool layout of library/01_call.lua.
-- @max how many at most
-- Returns (payload):
--   waiting (how many), first: up to @max of them in order, each {agent, position, since_ms, priority, deadline_ms} by name

local now = now_ms()
purge(now)

local max = int_arg('max', @max, 1, 1000)
local list = {}
local agents = redis.call('ZRANGE', K_QUEUE, 0, max - 1)
for i, agent in ipairs(agents) do
  local waiter = load_waiter(agent)
  table.insert(list, {'agent', agent, 'position', i, 'since_ms', waiter.since, 'priority', waiter.prio or STANDARD, 'deadline_ms', waiter.deadline or 0})
end
return finish({'waiting', redis.call('ZCARD', K_QUEUE), 'first', list})
