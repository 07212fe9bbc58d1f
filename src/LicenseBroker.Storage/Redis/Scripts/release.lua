-- release: ends a lease of the calling agent; the seat frees with the agent's last lease.
--
-- KEYS: the pool layout of library/01_call.lua.
-- @agent agent id (a lease of another agent is answered as not found)
-- @lease_id lease id
-- @remember_ms how long the release is remembered so that a retry still succeeds (ms)
-- Returns (payload):
--   status RELEASED: the lease was live and is ended
--   status ALREADY_RELEASED: released or revoked a moment ago
--   status NOT_FOUND: unknown or expired (an expired lease is no longer revived after it: heartbeat.lua)

local agent, id, remember = @agent, @lease_id, int_arg('remember_ms', @remember_ms, 0, 86400000)

local now = now_ms()
purge(now)

local lease = load_lease(id)
if lease and lease.agent == agent then
  drop_lease(id, lease, 'released', agent)
  remember_end(id, agent, 'RELEASED', agent, now, now + remember)
  return finish({'status', 'RELEASED'})
end

local tomb = tomb_of(id)
if expiry_of(id, agent, tomb) then
  -- Expired, and remembered for a revival the app now gives up: forgotten, so that nothing brings it back.
  redis.call('HDEL', K_TOMB_DATA, id)
  redis.call('ZREM', K_TOMBS, id)
elseif tomb and tomb.agent == agent then
  return finish({'status', 'ALREADY_RELEASED'})
end
return finish({'status', 'NOT_FOUND'})
