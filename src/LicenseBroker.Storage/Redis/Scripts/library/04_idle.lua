-- The pool library, part 4 of 9: idle rules. Owns the pool's pending and idle timeouts and each lease's reclaim
-- deadline (KEYS[16]).

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
