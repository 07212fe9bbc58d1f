-- wait_join: an agent asks to wait for a shared seat; granted at once when nobody is ahead and a seat is free.
--
-- KEYS: the pool layout of library/01_call.lua.
-- @agent agent id
-- @session session id
-- @lease_id a new random lease id ('ls_' ...), for a grant now or for the offer later (see grant in library/06_leases.lua)
-- @compact 1: the lease is compact, 0: classic (see "Two layouts" in library/01_call.lua); an offer keeps the choice
-- @seat seat type: NAMED | CONCURRENT | UNLIMITED
-- @limit concurrent seat limit
-- @ttl_ms lease ttl (ms)
-- @device device id
-- @platform platform
-- @kind session kind
-- @epoch_mode pool mode for the epoch check
-- @evidence evidence (see library/03_epoch.lua)
-- @claim_ms claim window (ms)
-- @waiter_life_ms how long the waiter lives without a refresh (ms)
-- @pending_ms the pool's pending timeout (ms, 0 = none): see reclaim_at in library/04_terms.lua
-- @idle_ms the pool's idle timeout (ms, 0 = none)
-- @group the agent's group in this pool ('' for none; see Groups in library/05_groups.lua)
-- @rules the pool's group rules, as set_rules() reads them
-- @rules_version the catalog version they were read at (see open_pool in library/07_admission.lua)
-- @revive_ms the pool's revive window (ms; stored for the purge, see remember_expiry in library/04_terms.lua)
-- @grace_ms the pool's outage grace (ms; the same)
-- @overage_mode the pool's overage: NONE | ALERT | BURST (see admission_limit in library/04_terms.lua)
-- @overage_seats the seats it allows beyond limit
-- @overage_caps the groups' overage caps, "group|max;..." (see overage_cap_reached in library/05_groups.lua)
-- @outage_from_ms the start of the last time no broker could reach this Redis (OutageWatch.cs; 0: none known)
-- @outage_to_ms its end (0: none known): newcomers wait one ttl after an outage (open_pool)
-- Records a seat event: granted, or queued when the agent joins the queue.
-- Returns (payload):
--   status GRANTED, lease_id, expires_ms, fence, seat
--   status QUEUED, position (1 = next; 0 = a seat is being offered), in_use, waiting, why, about, cap (see queued()
--     and refusal_of in library/05_groups.lua))
--   status RECOVERING, retry_ms | status NO_EPOCH
--   status STALE, version: the caller's rules are older than the pool's; reload them (at least version) and call again

local agent, session, id, seat = @agent, @session, @lease_id, @seat
local limit, ttl = int_arg('limit', @limit, 0, 1000000), int_arg('ttl_ms', @ttl_ms, 1000, 86400000)
local claim, waiter_life = int_arg('claim_ms', @claim_ms, 1, 86400000), int_arg('waiter_life_ms', @waiter_life_ms, 1, 86400000)
set_idle_rules(@pending_ms, @idle_ms)
set_recovery(@revive_ms, @grace_ms)
set_overage(@overage_mode, @overage_seats, limit, @overage_caps)

local now = now_ms()
want_settings() -- open_pool's settings come with the first read of the epoch
purge(now)
local group = @group
local recovering_until, newer_rules = open_pool(now, ttl, @epoch_mode, @evidence, limit, claim, @rules, @rules_version, @outage_from_ms, @outage_to_ms)
if not recovering_until then
  return finish({'status', 'NO_EPOCH'})
end
if newer_rules then
  return finish({'status', 'STALE', 'version', newer_rules})
end

local compact = @compact == '1'
local function grant_now()
  local fence, _, _, lease_id = grant(id, agent, session, seat, @device, @platform, @kind, now + ttl, nil, group, compact)
  return finish({'status', 'GRANTED', 'lease_id', lease_id, 'expires_ms', now + ttl, 'fence', fence, 'seat', seat})
end

if redis.call('HEXISTS', K_WAITERS, agent) == 0 then
  -- Named and unlimited seats never queue; a shared seat is granted now when acquire would grant it.
  if seat ~= 'CONCURRENT' then
    return grant_now()
  end
  local verdict = may_take_now(agent, group, limit, 'newcomer', recovering_until)
  if verdict == 'YES' then
    return grant_now()
  end
  if verdict == 'RECOVERING' then
    return finish({'status', 'RECOVERING', 'retry_ms', recovering_until - now})
  end
  local seq = redis.call('HINCRBY', K_EPOCH, 'queue_seq', 1)
  redis.call('ZADD', K_QUEUE, seq, agent)
  redis.call('ZADD', K_CLASS_QUEUE, string.format('%d', class_of(group, true) * CLASS_SPAN + seq), agent)
  redis.call('HSET', K_WAITERS, agent, cjson.encode({
    session = session, device = @device, platform = @platform, kind = @kind, offer_id = id, compact = compact or nil, since = now, group = group }))
  -- A wait ended by an earlier change is forgotten: this wait's stream must not report it.
  redis.call('HDEL', K_TOMB_DATA, 'w:' .. agent)
  event('queued', '', agent, agent)
  QUEUE_CHANGED = true
end
schedule(K_WAITER_LIFE, now + waiter_life, agent)
promote(now)

-- Position 0: offered right away (a seat was free); the status call claims it.
return finish(queued(agent, group, limit))
