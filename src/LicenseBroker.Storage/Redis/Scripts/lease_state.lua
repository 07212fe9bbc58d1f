-- lease_state: whether a lease of the agent is live, ended by an admin, or gone.
--
-- KEYS: the pool layout of prelude.lua.
-- @agent agent id
-- @lease_id lease id
-- Returns (payload):
--   status LIVE, expires_ms | status REVOKED, by, at_ms | status GONE

local agent, id = @agent, @lease_id
local now = now_ms()
purge(now)

local lease = load_lease(id)
if lease and lease.agent == agent then
  return finish({'status', 'LIVE', 'expires_ms', tonumber(redis.call('ZSCORE', K_LEASES, id))})
end
local revoked = revocation_of(id, agent)
if revoked then
  return finish({'status', 'REVOKED', 'by', revoked.by, 'at_ms', revoked.at})
end
return finish({'status', 'GONE'})
