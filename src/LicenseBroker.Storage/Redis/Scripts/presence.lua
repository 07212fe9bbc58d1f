-- presence: a broker replica says it reached this Redis now. A gap between two such calls, of any replica, longer
-- than outage_after_ms is an outage: for that long no broker could reach this Redis (every replica was down, or
-- Redis was unreachable), so no app could renew its lease, and leases that expired then are honoured on return
-- within their grace (heartbeat.lua). Every replica calls it every second (OutageWatch.cs).
--
-- KEYS: its own: KEYS[1] presence STRING (Redis time, ms, of the last call of any replica), KEYS[2] outage HASH
--   {from, to}: the last outage seen (ms); both in one slot (one hash tag), kept until replaced
-- @outage_after_ms a gap longer than this (ms) is an outage
-- Returns (flat): from, to of the last outage (0, 0: none known)

local after = tonumber(@outage_after_ms)
if not after or after < 1000 then
  return redis.error_reply('LB_BAD_ARGUMENT outage_after_ms must be at least 1000')
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if now > last then
  redis.call('SET', KEYS[1], string.format('%d', now))
end
if last > 0 and now - last > after then
  redis.call('HSET', KEYS[2], 'from', string.format('%d', last), 'to', string.format('%d', now))
end
local outage = redis.call('HMGET', KEYS[2], 'from', 'to')
return {tonumber(outage[1] or '0'), tonumber(outage[2] or '0')}
