-- The pool library, part 4 of 10: the pool's terms. Owns what its subscription says beyond the limit: the pending and
-- idle timeouts and each lease's reclaim deadline (KEYS[16]), the revive window and outage grace (how long an expired
-- lease is remembered, and given back, see heartbeat.lua), and the overage (admission_limit, used by may_take_now);
-- what is remembered of an ended lease or wait (KEYS[6], KEYS[7]) is written and read here.

-- kind: the session kind the lease had when it ended (kept for an expiry: see lost_in_session in part 7), or nil; why: what
-- an admin's change was (revoke.lua: SEAT_CHANGED | SEAT_REMOVED | AGENT_REMOVED), told to the app, or nil.
local function remember_end(id, agent, reason, by, at, until_ms, kind, why)
  schedule(K_TOMBS, until_ms, id)
  redis.call('HSET', K_TOMB_DATA, id, cjson.encode({agent = agent, reason = reason, by = by, at = at, kind = kind, why = why}))
end

-- What is remembered of an ended lease or wait ('w:' .. agent): {agent, reason, by, at} (remember_end), or false.
local function tomb_of(id)
  local raw = redis.call('HGET', K_TOMB_DATA, id)
  return raw and cjson.decode(raw) or false
end

-- Why a lease of the agent ended, when the app must be told (remembered for one lease lifetime):
-- {reason = REVOKED (an admin; by = who) | IDLE_RELEASED (by = the rule), at} or nil. tomb: tomb_of(id), when read.
local function ending_of(id, agent, tomb)
  if tomb == nil then
    tomb = tomb_of(id)
  end
  if tomb and tomb.agent == agent and (tomb.reason == 'REVOKED' or tomb.reason == 'IDLE_RELEASED') then
    return tomb
  end
  return nil
end

-- Why the agent's wait was ended by a change (see end_wait), or nil.
local function wait_ending(agent)
  return tomb_of('w:' .. agent) or nil
end

-- The pool's idle rules (0 = off): pending_ms, how long a lease may stay PENDING; idle_ms, how long
-- its app may report the user idle. Scripts that are told them (acquire, wait_join, heartbeat) set
-- them from their arguments; the others read what open_pool() last stored, only when they need them.
local PENDING_MS, IDLE_MS = nil, nil
local RECLAIM_DUE = 0 -- the earliest reclaim deadline this call wrote (0: none), for the broker's index (finish)

on_each_call(function()
  PENDING_MS, IDLE_MS, RECLAIM_DUE = nil, nil, 0
end)

local function set_idle_rules(pending_ms, idle_ms)
  if pending_ms == '' then
    return -- the caller does not know them (heartbeat with the catalog away): keep the stored ones
  end
  PENDING_MS = int_arg('pending_ms', pending_ms, 0, 86400000)
  IDLE_MS = int_arg('idle_ms', idle_ms, 0, 86400000)
end

local function idle_rules()
  if PENDING_MS == nil then
    local fields = redis.call('HMGET', K_EPOCH, 'pending_ms', 'idle_ms')
    PENDING_MS, IDLE_MS = tonumber(fields[1] or '0'), tonumber(fields[2] or '0')
  end
  return PENDING_MS, IDLE_MS
end

-- When the broker takes the lease's seat back (ms), or nil: PENDING since 'since' for pending_ms, or
-- its user idle for idle_ms. idle_for_ms is what the app reports on this heartbeat (0: active); the
-- idle period is placed on Redis's clock (now - idle_for), never on the app's.
local function reclaim_at(lease, idle_for_ms)
  local pending_ms, idle_ms = idle_rules()
  local at = nil
  if pending_ms > 0 and lease.kind == 'Pending' then
    at = lease.since + pending_ms
  end
  if idle_ms > 0 and idle_for_ms > 0 then
    local idle_at = NOW - idle_for_ms + idle_ms
    if at == nil or idle_at < at then
      at = idle_at
    end
  end
  return at
end

-- Keeps K_RECLAIM in step with the lease's deadline (lease.reclaim, written by the caller with
-- the record): no command when it did not move.
local function track_reclaim(id, lease, at)
  if at == lease.reclaim then
    return
  end
  if at then
    schedule(K_RECLAIM, at, lease_member(id))
    if RECLAIM_DUE == 0 or at < RECLAIM_DUE then
      RECLAIM_DUE = at
    end
  else
    redis.call('ZREM', K_RECLAIM, lease_member(id))
  end
  lease.reclaim = at
end

-- The pool's revive window and outage grace (ms): as the caller passed them (acquire and wait_join: set_recovery, stored
-- by open_pool), or as the last of those stored them, for a purge that must know how long to remember an expiry.
local REVIVE_MS, GRACE_MS = nil, nil
local DEFAULT_RECOVERY_MS = 300000 -- LeaseRecovery.Default: a pool no acquire of this version has opened yet
local function set_recovery(revive_ms, grace_ms)
  REVIVE_MS, GRACE_MS = int_arg('revive_ms', revive_ms, 0, 900000), int_arg('grace_ms', grace_ms, 0, 900000)
end
local function recovery()
  if REVIVE_MS == nil then
    local fields = redis.call('HMGET', K_EPOCH, 'revive_ms', 'grace_ms')
    REVIVE_MS, GRACE_MS = tonumber(fields[1] or DEFAULT_RECOVERY_MS), tonumber(fields[2] or DEFAULT_RECOVERY_MS)
  end
  return REVIVE_MS, GRACE_MS
end

-- An expired lease is remembered (tombstone EXPIRED, at = when it expired) as long as its app may still get it back:
-- the pool's revive window or its outage grace, whichever is longer (heartbeat.lua decides which applies).
local function remember_expiry(id, agent, at, kind)
  local revive_ms, grace_ms = recovery()
  local keep = math.max(revive_ms, grace_ms)
  if keep > 0 and at + keep > NOW then
    remember_end(id, agent, 'EXPIRED', 'broker', at, at + keep, kind)
  end
end

-- The agent's lease that expired and is still remembered (remember_expiry): {reason = EXPIRED, at}, or nil.
-- tomb: tomb_of(id), when read.
local function expiry_of(id, agent, tomb)
  if tomb == nil then
    tomb = tomb_of(id)
  end
  if tomb and tomb.agent == agent and tomb.reason == 'EXPIRED' then
    return tomb
  end
  return nil
end

-- The pool's overage for this call: as acquire, wait_join or apply_rules passed it (set_overage, stored in the epoch),
-- else as last stored. mode NONE | ALERT | BURST; extra: seats beyond the purchased limit; limit: the purchased limit;
-- caps: group -> at most that many of its members on seats beyond the limit ("group|max;..." as text).
local OVERAGE = nil
local function parse_caps(text)
  local caps = {}
  for group, max in string.gmatch(text, '([^|;]+)|([^;]+)') do
    caps[group] = int_arg('overage_caps max', max, 0, 1000000)
  end
  return caps
end
local function set_overage(mode, extra, limit, caps_text)
  if mode ~= 'NONE' and mode ~= 'ALERT' and mode ~= 'BURST' then
    error({err = 'LB_BAD_ARGUMENT overage_mode must be NONE, ALERT or BURST'})
  end
  OVERAGE = {mode = mode, extra = int_arg('overage_seats', extra, 0, 100000000), limit = limit, caps_text = caps_text, caps = parse_caps(caps_text)}
end
local function overage()
  if OVERAGE == nil then
    due_time()
    OVERAGE = {mode = EPOCH_OVERAGE.mode, extra = EPOCH_OVERAGE.extra, limit = EPOCH_OVERAGE.limit, caps_text = EPOCH_OVERAGE.caps, caps = parse_caps(EPOCH_OVERAGE.caps)}
  end
  return OVERAGE
end

-- The limit an admission is held to: the purchased one, plus the overage allowance for a newcomer or a returning holder
-- (ALERT, BURST) and for the queue's head (BURST only).
local function admission_limit(limit, as)
  local o = overage()
  if o.mode == 'BURST' or (o.mode == 'ALERT' and as ~= 'waiter') then
    return limit + o.extra
  end
  return limit
end

-- The pool's seats beyond its purchased ones (overage seats: in use above the limit), after a grant that took a seat, a
-- drop that freed one, or a new limit (apply_rules.lua): each change is a seat event, overage_started (from none),
-- overage_changed or overage_ended (to none), with the overage seats in its in_use column, from which the statement is
-- computed (OverageStatement.cs). The count is kept in the epoch ('ovg_n'): one that runs is followed to its end
-- whatever the mode or the limit do meanwhile; none starts in mode NONE. limit: the purchased limit, if not the stored.
local function overage_moved(id, agent, actor, at, in_use, limit)
  due_time()
  local before = EPOCH_OVERAGE.count
  local over = math.max(0, in_use - (limit or overage().limit))
  if over == before or (before == 0 and overage().mode == 'NONE') then
    return
  end
  EPOCH_OVERAGE.count = over
  if over == 0 then
    redis.call('HDEL', K_EPOCH, 'ovg_n')
  else
    redis.call('HSET', K_EPOCH, 'ovg_n', over)
  end
  if before == 0 then
    event('overage_started', id, agent, actor, nil, nil, at, over)
  elseif over == 0 then
    event('overage_ended', id, agent, actor, nil, nil, at, over)
  else
    event('overage_changed', id, agent, actor, nil, nil, at, over)
  end
end

on_each_call(function()
  REVIVE_MS, GRACE_MS, OVERAGE = nil, nil, nil
end)
