-- acquire: admits an agent to a pool, or refuses, in one atomic step.
--
-- KEYS: the pool layout of library/01_call.lua.
-- @agent agent id
-- @session session id (client-chosen; a retry with the same id returns the same lease)
-- @lease_id a new random lease id ('ls_' ...), the lease's id if one is granted (or the random part of its compact id)
-- @compact a new lease is 0: classic, 1: compact, 2: compact with a short record (new_lease_layout in library/06_leases.lua)
-- @seat seat type: NAMED | CONCURRENT | UNLIMITED
-- @device device id
-- @platform platform
-- @kind session kind
-- @epoch_mode pool mode for the epoch check: UNKNOWN | NEW | KNOWN (see library/03_epoch.lua)
-- @evidence evidence: largest fencing token the broker has seen in this pool
-- @rate_window_ms rate window (ms)
-- @rate_pool attempts allowed per window for the pool
-- @rate_agent per agent (0: no limit)
-- @terms_id the broker's id of the pool's terms (limit, claim window, lease ttl, idle rules, group rules and their
--   version, revive window, outage grace, overage): the rest (ARGV[@rest] on) are those terms, in the order of
--   SETTINGS_FIELDS in library/03_epoch.lua, when the broker does not know the pool has them; none when it does (see
--   pool_terms in library/08_admission.lua)
-- @group the agent's group in this pool ('' for none; see Groups in library/05_groups.lua)
-- @outage_from_ms the start of the last time no broker could reach this Redis (OutageWatch.cs; 0: none known)
-- @outage_to_ms its end (0: none known): newcomers wait one ttl after an outage (open_pool)
-- @holder_entries 1 when every replica reads holders counted in their agents' entries (library/05_groups.lua), else 0
-- Records seat events: granted, or refused when the pool is full.
-- Returns (payload):
--   status GRANTED, lease_id, expires_ms, fence, seat, resumed (0|1); a new grant also overage (1: a seat beyond the
--     purchased limit), in_use, cap (the limit plus the overage allowance)
--   status FULL, in_use, limit, waiting, why (FULL | GROUP_CAP | RESERVED, see
--     refusal_of in library/05_groups.lua), about (the capped group, or the groups keeping the free seats), cap
--   status RECOVERING, retry_ms: the pool is in its recovery window; newcomers are admitted after it
--   status NO_EPOCH: mode UNKNOWN and no epoch: ask PostgreSQL, call again
--   status STALE, version: the caller's rules are older than the pool's; reload them (at least version) and call again
--   status RATE_LIMITED, retry_ms: too many attempts (the attempt changed nothing else)
--   status TERMS: the broker sent no terms and the pool does not have those of @terms_id: call again with them

local agent, session, new_id, seat = @agent, @session, @lease_id, @seat
local rate_window, rate_pool, rate_agent = int_arg('rate_window_ms', @rate_window_ms, 0, 86400000), int_arg('rate_pool', @rate_pool, 0, 1000000000), int_arg('rate_agent', @rate_agent, 0, 1000000000)

local opened, ending = open_admission({unpack(ARGV, @rest)}, @terms_id, @epoch_mode, @evidence, @outage_from_ms, @outage_to_ms, @holder_entries)
if not opened then
  return finish(ending)
end
local now, limit, ttl, recovering_until = opened.now, opened.limit, opened.ttl, opened.recovering_until
local group = @group
local retry_after = rate_limited(now, rate_window, rate_pool, rate_agent, agent)
if retry_after then
  return finish({'status', 'RATE_LIMITED', 'retry_ms', retry_after})
end

-- Idempotent retry: the same agent and session get their live lease back, renewed.
local existing_id, existing = live_lease_of(agent, session)
if existing_id then
  local expires = now + ttl
  schedule(K_LEASES, expires, lease_member(existing_id))
  existing.beat = now
  store_lease(existing_id, existing)
  return finish({'status', 'GRANTED', 'lease_id', existing_id, 'expires_ms', expires, 'fence', existing.fence, 'seat', existing.seat, 'resumed', 1})
end

if seat == 'CONCURRENT' then
  local verdict, in_use = may_take_now(agent, group, limit, 'newcomer', recovering_until)
  if verdict == 'RECOVERING' then
    return finish({'status', 'RECOVERING', 'retry_ms', recovering_until - now})
  end
  if verdict == 'NO' then
    stats_touch(now)
    local refused = redis.call('HINCRBY', K_STATS, stats_field(now, 'refused'), 1)
    event('refused', '', agent, agent, nil, refused)
    local why, about, cap = refusal_of(group, in_use, admission_limit(limit, 'newcomer'))
    return finish({'status', 'FULL', 'in_use', in_use, 'limit', limit, 'waiting', redis.call('ZCARD', K_QUEUE), 'why', why, 'about', about, 'cap', cap})
  end
end

local expires = now + ttl
local fence, in_use, _, id, took_seat = grant(new_id, agent, session, seat, @device, @platform, @kind, expires, nil, group, new_lease_layout(@compact))
local over = (took_seat and in_use > limit) and 1 or 0
return finish({'status', 'GRANTED', 'lease_id', id, 'expires_ms', expires, 'fence', fence, 'seat', seat, 'resumed', 0,
  'overage', over, 'in_use', in_use, 'cap', limit + overage().extra})
