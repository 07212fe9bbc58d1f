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
-- @pending_ms the pool's pending timeout (ms, 0 = none): see reclaim_at in library/04_terms.lua
-- @idle_ms the pool's idle timeout (ms, 0 = none)
-- @idle_for_ms how long the app says its user has been idle (ms, 0 = active)
-- @group the agent's group in this pool: whether a re-established shared seat may be taken (may_take_now), and
--          the group it counts in
-- @rules the pool's group rules (see Groups in library/05_groups.lua), for the same
-- @proven_grace_ms the end of the lease's outage grace its proof vouches for (ms, Redis time), or 0 for a proof of the
--          format before grace (it re-establishes after a loss of data, and revives nothing)
-- @revive_ms the pool's revive window (ms, 0 to 15 min)
-- @outage_from_ms the start of the last time no broker could reach this Redis (OutageWatch.cs; 0: none known)
-- @outage_to_ms its end (0: none known)
-- Records a seat event when it re-establishes a lease (reestablished) or revives one (revived), or when the lease is
-- past a reclaim deadline (idle_released).
-- Getting an unknown lease back needs a proof that verified (proven_token > 0), an id that fits it, a seat, and no
-- other live lease of the session; then, by the first that applies:
--   * the pool is in its recovery window after a loss of data, and the proof's grace has not passed: re-established as
--     a holder (may_take_now 'holder');
--   * the lease expired while no broker could reach the pool (its expiry within the outage, OUTAGE_SLACK_MS after),
--     and the proof's grace has not passed: revived as a holder: ahead of waiters, never past the limit;
--   * it expired less than revive_ms ago: revived as a newcomer would be admitted (nobody waiting ahead, a seat free).
-- Returns (payload):
--   status RENEWED, expires_ms, fence, seat, session, revived (0 | 1) (a lease re-established from its proof too)
--   status REVOKED, by, at_ms, why: an admin ended the lease (why: SESSION_ENDED | SEAT_CHANGED | SEAT_REMOVED | AGENT_REMOVED)
--   status IDLE_RELEASED, by (pending_timeout | idle_timeout), at_ms: the broker took the seat back
--   status EXPIRED, why (SEAT_TAKEN | WINDOW_PASSED | ENDED | UNPROVEN | NO_SEAT | UNKNOWN), in_use, limit, waiting: not
--     known, and not given back (why: someone took the seat or waits for it; too long ago; released; no proof that
--     verifies for this lease, agent, device and pool; the agent has no seat now; unknown, or another agent's)
--   status BACKLOG, retry_ms: it would be given back but the pool still holds expired leases to drop; call again
--   status NO_EPOCH: mode UNKNOWN and no epoch: ask PostgreSQL, call again

local agent, id = @agent, @lease_id
local ttl = int_arg('ttl_ms', @ttl_ms, 1000, 86400000)
local session, seat, kind = @session, @seat, @kind
local proven = int_arg('proven_token', @proven_token, 0, MAX_FENCE)
local limit = int_arg('limit', @limit, 0, 1000000)
set_idle_rules(@pending_ms, @idle_ms)
local idle_for = int_arg('idle_for_ms', @idle_for_ms, 0, 2592000000)
local proven_grace = int_arg('proven_grace_ms', @proven_grace_ms, 0, MAX_FENCE)
local revive_ms = int_arg('revive_ms', @revive_ms, 0, 900000)
local outage_from, outage_to = int_arg('outage_from_ms', @outage_from_ms, 0, MAX_FENCE), int_arg('outage_to_ms', @outage_to_ms, 0, MAX_FENCE)

local now = now_ms()
purge(now)
local recovering_until = check_epoch(@epoch_mode, now, ttl, @evidence)
if not recovering_until then
  return finish({'status', 'NO_EPOCH'})
end

local lease = load_lease(id)
if lease and lease.agent == agent then
  -- Past its expiry but not dropped yet (the purge takes a bounded batch, oldest first): expired all the same, so that
  -- the lease is given back, or not, by the same rules as one the purge reached (below).
  local expiry = tonumber(redis.call('ZSCORE', K_LEASES, lease_member(id)))
  if expiry and expiry <= now then
    drop_lease(id, lease, 'expired', 'broker', expiry)
    remember_expiry(id, agent, expiry, lease.kind)
    lease = nil
  end
end
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
  -- last heartbeat of an unchanged record is read from its expiry (beat_of in library/09_views.lua).
  if kind_changed or reclaim_ms ~= lease.reclaim then
    lease.beat = now
    track_reclaim(id, lease, reclaim_ms)
    store_lease(id, lease)
  end
  return finish({'status', 'RENEWED', 'expires_ms', expires, 'fence', lease.fence, 'seat', lease.seat, 'session', lease.session, 'revived', 0})
end
-- Not known (any more): why, and what waiting would give (the place WaitForSeat would give now, see LEASE_EXPIRED).
local function expired(why)
  return finish({'status', 'EXPIRED', 'why', why, 'in_use', seats_in_use(), 'limit', limit, 'waiting', redis.call('ZCARD', K_QUEUE)})
end
if lease then
  -- Another agent's live lease: not the caller's to renew, nor to take over.
  return expired('UNKNOWN')
end

local tomb = tomb_of(id) -- read once: how it ended, whether it expired, or whose it was
local ended = ending_of(id, agent, tomb)
if ended then
  return finish({'status', ended.reason, 'by', ended.by, 'at_ms', ended.at, 'why', ended.why or 'SESSION_ENDED'})
end
local expiry = expiry_of(id, agent, tomb)
if tomb and not expiry then
  -- Released a moment ago: remembered, never brought back (another agent's: unknown to the caller).
  return expired(tomb.agent == agent and 'ENDED' or 'UNKNOWN')
end

-- A compact id names its fence and its class: one the proof's token or the agent's seat now do not match names
-- another lease. A proof of the format before grace (proven_grace 0) only re-establishes after a loss of data.
local OUTAGE_SLACK_MS = 15000 -- an app in grace retries every few seconds: its lease may expire just after the outage
local _, id_fence, _, id_class = compact_place(id)
local id_fits = id_fence == nil or (tonumber(id_fence) == proven and (id_class == 'c') == (seat == 'CONCURRENT'))
if seat == '' then
  return expired('NO_SEAT')
end
if proven == 0 or not id_fits then
  return expired('UNPROVEN')
end
if live_lease_of(agent, session) ~= nil then
  return expired('UNKNOWN') -- the session has another lease now
end
local in_grace = proven_grace == 0 or now <= proven_grace -- 0: a proof of the format before, which carries none
local as, revived = nil, false
if now < recovering_until and (not expiry or proven_grace > 0) and in_grace then
  as = 'holder' -- Redis forgot it (or it expired as the data was lost): re-established, as every holder is
elseif expiry and proven_grace > 0 and in_grace and outage_to > 0 and expiry.at >= outage_from and expiry.at <= outage_to + OUTAGE_SLACK_MS then
  as, revived = 'holder', true
elseif expiry and proven_grace > 0 and now <= expiry.at + revive_ms then
  as, revived = 'newcomer', true
end
if not as then
  -- Remembered as expired, or forgotten past the grace its proof vouches for: too long ago either way.
  return expired((expiry or not in_grace) and 'WINDOW_PASSED' or 'UNKNOWN')
end
set_rules(@rules)
if seat == 'CONCURRENT' and may_take_now(agent, @group, limit, as, recovering_until) ~= 'YES' then
  if BACKLOG == 1 then
    return finish({'status', 'BACKLOG', 'retry_ms', 1000}) -- expired leases may hold the seat it would take
  end
  return expired('SEAT_TAKEN')
end
if expiry then
  redis.call('HDEL', K_TOMB_DATA, id)
  redis.call('ZREM', K_TOMBS, id)
end
local expires = now + ttl
grant(id, agent, session, seat, @device, @platform, kind ~= '' and kind or 'Pending', expires, proven, @group, nil, revived)
return finish({'status', 'RENEWED', 'expires_ms', expires, 'fence', proven, 'seat', seat, 'session', session, 'revived', revived and 1 or 0})
