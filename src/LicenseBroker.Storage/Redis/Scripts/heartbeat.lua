-- heartbeat: renews a live lease of the calling agent.
--
-- KEYS: the pool layout of prelude.lua.
-- ARGV[1] agent id (a lease of another agent is answered as not found)
-- ARGV[2] lease id
-- ARGV[3] lease ttl (ms)
-- Returns (payload):
--   {'RENEWED', expires at ms, fencing token, seat type, session id}
--   {'REVOKED', by, at ms}     an admin ended the lease
--   {'NOT_FOUND'}              unknown, released or expired

local agent, id, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])

local now = now_ms()
purge(now)

local lease = load_lease(id)
if lease and lease.agent == agent then
  local expires = now + ttl
  redis.call('ZADD', K_LEASES, expires, id)
  lease.beat = now
  redis.call('HSET', K_DATA, id, cjson.encode(lease))
  return finish({'RENEWED', expires, lease.fence, lease.seat, lease.session})
end

local raw_tomb = redis.call('HGET', K_TOMB_DATA, id)
if raw_tomb then
  local tomb = cjson.decode(raw_tomb)
  if tomb.agent == agent and tomb.reason == 'REVOKED' then
    return finish({'REVOKED', tomb.by, tomb.at})
  end
end
return finish({'NOT_FOUND'})
