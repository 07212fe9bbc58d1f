-- lease_state: whether a lease of the agent is live, ended by an admin, or gone.
--
-- KEYS: the pool layout of prelude.lua.
-- ARGV[1] agent id, ARGV[2] lease id
-- Returns (payload): {'LIVE', expires at ms} | {'REVOKED', by, at ms} | {'GONE'}

local agent, id = ARGV[1], ARGV[2]
local now = now_ms()
purge(now)

local lease = load_lease(id)
if lease and lease.agent == agent then
  return finish({'LIVE', tonumber(redis.call('ZSCORE', K_LEASES, id))})
end
local raw_tomb = redis.call('HGET', K_TOMB_DATA, id)
if raw_tomb then
  local tomb = cjson.decode(raw_tomb)
  if tomb.agent == agent and tomb.reason == 'REVOKED' then
    return finish({'REVOKED', tomb.by, tomb.at})
  end
end
return finish({'GONE'})
