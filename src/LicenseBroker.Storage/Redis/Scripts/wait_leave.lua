-- wait_leave: a waiter cancels or disconnects (a wait_cancelled seat event): it leaves the queue at once,
-- and an offered seat it did not claim goes to the next waiter.
--
-- KEYS: the pool layout of library/01_call.lua.
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
leave_queue(agent, waiter, 'released', agent)
event('wait_cancelled', '', agent, agent)
return finish({'status', 'LEFT'})
