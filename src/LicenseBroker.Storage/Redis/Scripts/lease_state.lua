-- lease_state: whether a lease of the agent is live, ended by an admin, or gone.
--
-- KEYS: the pool layout of library/01_call.lua.
-- @agent agent id
-- @lease_id lease id
-- Returns (payload):
--   status LIVE, expires_ms
--   status REVOKED, by, at_ms: an admin ended it
--   status IDLE_RELEASED, by (pending_timeout | idle_timeout), at_ms: the broker took the seat back
--   status GONE: released, expired, or never the agent's

local agent, id = @agent, @lease_id
local now = now_ms()
purge(now)

local lease = load_lease(id)
if lease and lease.agent == agent then
  return finish({'status', 'LIVE', 'expires_ms', tonumber(redis.call('ZSCORE', K_LEASES, lease_member(id)))})
end
local ended = ending_of(id, agent)
if ended then
  return finish({'status', ended.reason, 'by', ended.by, 'at_ms', ended.at})
end
return finish({'status', 'GONE'})
