-- lease_state: whether a lease of the agent is live, ended by an admin, or gone.
--
-- KEYS: the pool layout of prelude.lua.
-- @agent agent id
-- @lease_id lease id
-- Returns (payload): {'LIVE', expires at ms} | {'REVOKED', by, at ms} | {'GONE'}

local agent, id = @agent, @lease_id
local now = now_ms()
purge(now)

local lease = load_lease(id)
if lease and lease.agent == agent then
  return finish({'LIVE', tonumber(redis.call('ZSCORE', K_LEASES, id))})
end
local revoked = revocation_of(id, agent)
if revoked then
  return finish({'REVOKED', revoked.by, revoked.at})
end
return finish({'GONE'})
