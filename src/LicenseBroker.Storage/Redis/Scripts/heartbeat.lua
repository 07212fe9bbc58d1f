-- heartbeat: renews a live lease of the calling agent, or re-establishes it after Redis lost data.
--
-- KEYS: the pool layout of library/01_call.lua.
-- @agent  agent id (a lease of another agent is answered as not found)
-- @lease_id  lease id
-- @ttl_ms  lease ttl (ms)
-- @epoch_mode  pool mode for the epoch check: UNKNOWN | NEW | KNOWN (see library/03_epoch.lua)
-- @evidence  evidence: largest fencing token the broker saw in this pool or verified in a lease proof
-- @session  session id the app acquired the lease with
-- @proven_token  proven fencing token: the app's token when its lease proof verified, else 0.
--          Re-establishment needs it; a token no proof backs never reaches this script.
-- @seat  the agent's seat type now (NAMED | CONCURRENT | UNLIMITED), or '' without a seat
-- @limit  concurrent seat limit of the pool
-- @device device id
-- @platform platform
-- @kind session kind the app reports now (PENDING -> ATTENDED ...), or '' when it reports none
-- @pending_ms the pool's pending timeout (ms, 0 = none): see reclaim_at in library/04_idle.lua
-- @idle_ms the pool's idle timeout (ms, 0 = none)
-- @idle_for_ms how long the app says its user has been idle (ms, 0 = active)
-- @group the agent's group in this pool: whether a re-established shared seat may be taken (may_take_now), and
--          the group it counts in
-- @rules the pool's group rules (see Groups in library/05_groups.lua), for the same
-- Records a seat event when it re-establishes a lease (reestablished), or when the lease is past a
-- reclaim deadline (idle_released).
-- Returns (payload):
--   status RENEWED, expires_ms, fence, seat, session (a lease re-established from its proof too)
--   status REVOKED, by, at_ms: an admin ended the lease
--   status IDLE_RELEASED, by (pending_timeout | idle_timeout), at_ms: the broker took the seat back
--   status NOT_FOUND: unknown, released, expired, or another agent's
--   status NO_EPOCH: mode UNKNOWN and no epoch: ask PostgreSQL, call again

local agent, id = @agent, @lease_id
local ttl = int_arg('ttl_ms', @ttl_ms, 1000, 86400000)
local session, seat, kind = @session, @seat, @kind
local proven = int_arg('proven_token', @proven_token, 0, MAX_FENCE)
local limit = int_arg('limit', @limit, 0, 1000000)
set_idle_rules(@pending_ms, @idle_ms)
local idle_for = int_arg('idle_for_ms', @idle_for_ms, 0, 2592000000)

local now = now_ms()
purge(now)
local recovering_until = check_epoch(@epoch_mode, now, ttl, @evidence)
if not recovering_until then
  return finish({'status', 'NO_EPOCH'})
end

local lease = load_lease(id)
if lease and lease.agent == agent then
  local kind_changed = kind ~= '' and kind ~= lease.kind
  if kind_changed then
    lease.kind, lease.since = kind, now
  end
  local reclaim_ms = reclaim_at(lease, idle_for)
  if reclaim_ms and reclaim_ms <= now then
    -- Already past its deadline (the app reported a long idle time, or this call came first).
    local cause, at = reclaim(id, lease, reclaim_ms)
    return finish({'status', 'IDLE_RELEASED', 'by', cause, 'at_ms', at})
  end
  local expires = now + ttl
  schedule(K_LEASES, expires, lease_member(id))
  -- Most heartbeats change nothing but the expiry: the record is rewritten only when its kind or
  -- reclaim deadline moved (encoding and writing it was a fifth of a heartbeat's Redis time); the
  -- last heartbeat of an unchanged record is read from its expiry (beat_of in library/08_views.lua).
  if kind_changed or reclaim_ms ~= lease.reclaim then
    lease.beat = now
    track_reclaim(id, lease, reclaim_ms)
    store_lease(id, lease)
  end
  return finish({'status', 'RENEWED', 'expires_ms', expires, 'fence', lease.fence, 'seat', lease.seat, 'session', lease.session})
end
if lease then
  -- Another agent's live lease: not the caller's to renew, nor to take over.
  return finish({'status', 'NOT_FOUND'})
end

local ended = ending_of(id, agent)
if ended then
  return finish({'status', ended.reason, 'by', ended.by, 'at_ms', ended.at})
end
if redis.call('HEXISTS', K_TOMB_DATA, id) == 1 then
  -- Ended a moment ago (by anyone): remembered, never re-established.
  return finish({'status', 'NOT_FOUND'})
end

-- Within the recovery window a holder Redis forgot gets its lease back, with the fencing token its
-- proof carries, as long as the agent still has a seat and, for a shared seat, may take it now by the
-- one admission rule (a re-established lease pushes the pool over neither its limit nor a group's rules).
-- A compact id names its fence and its class: one the proof's token or the agent's seat now do not match names
-- another lease.
local _, id_fence, _, id_class = compact_place(id)
local id_fits = id_fence == nil or (tonumber(id_fence) == proven and (id_class == 'c') == (seat == 'CONCURRENT'))
if now < recovering_until and seat ~= '' and proven > 0 and id_fits and live_lease_of(agent, session) == nil then
  set_rules(@rules)
  if seat == 'CONCURRENT' and may_take_now(agent, @group, limit, 'holder') ~= 'YES' then
    return finish({'status', 'NOT_FOUND'})
  end
  local expires = now + ttl
  grant(id, agent, session, seat, @device, @platform, kind ~= '' and kind or 'Pending', expires, proven, @group)
  return finish({'status', 'RENEWED', 'expires_ms', expires, 'fence', proven, 'seat', seat, 'session', session})
end
return finish({'status', 'NOT_FOUND'})
