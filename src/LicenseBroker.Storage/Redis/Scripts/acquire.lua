-- acquire: admits an agent to a pool, or refuses, in one atomic step.
--
-- KEYS: the pool layout of prelude.lua.
-- ARGV[1] agent id
-- ARGV[2] session id (client-chosen; a retry with the same id returns the same lease)
-- ARGV[3] lease id to use if a new lease is granted
-- ARGV[4] seat type: NAMED | CONCURRENT | UNLIMITED
-- ARGV[5] concurrent seat limit of the pool
-- ARGV[6] lease ttl (ms)
-- ARGV[7] device id
-- ARGV[8] platform
-- ARGV[9] session kind
-- Returns:
--   {'GRANTED', lease id, expires at ms, fencing token, seat type, resumed 0|1, seats in use}
--   {'FULL', seats in use, limit}

local agent, session, new_id, seat = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local limit, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])

local now = now_ms()
purge(now)

-- Idempotent retry: the same agent and session get their live lease back, renewed.
local existing_id = redis.call('HGET', K_SESSIONS, session_field(agent, session))
if existing_id then
  local lease = load_lease(existing_id)
  if lease then
    local expires = now + ttl
    redis.call('ZADD', K_LEASES, expires, existing_id)
    lease.beat = now
    redis.call('HSET', K_DATA, existing_id, cjson.encode(lease))
    return {'GRANTED', existing_id, expires, lease.fence, lease.seat, 1, redis.call('HLEN', K_HOLDERS)}
  end
end

if seat == 'CONCURRENT' then
  -- One seat per agent: an agent who already holds a seat (another device) takes no second one.
  -- A lower limit after a downgrade keeps current holders and admits nobody until under it.
  local held = tonumber(redis.call('HGET', K_HOLDERS, agent) or '0')
  if held == 0 then
    local in_use = redis.call('HLEN', K_HOLDERS)
    if in_use >= limit then
      return {'FULL', in_use, limit}
    end
  end
  redis.call('HINCRBY', K_HOLDERS, agent, 1)
end

local fence = redis.call('INCR', K_FENCE)
local expires = now + ttl
redis.call('ZADD', K_LEASES, expires, new_id)
redis.call('HSET', K_DATA, new_id, cjson.encode({
  agent = agent, session = session, seat = seat, device = ARGV[7], platform = ARGV[8],
  kind = ARGV[9], started = now, beat = now, fence = fence }))
redis.call('HSET', K_SESSIONS, session_field(agent, session), new_id)
redis.call('HINCRBY', K_AGENT_LEASES, agent, 1)
return {'GRANTED', new_id, expires, fence, seat, 0, redis.call('HLEN', K_HOLDERS)}
