-- The pool library, part 6 of 10: leases. Owns the one way a lease comes to exist (grant) and the ways it ends
-- (drop_lease; reclaim), and the marks of shared seats granted beyond the purchased ones. No per-call state.
--
-- Time is Redis's own (TIME), never a replica's clock. Expired leases are removed here, inside every script, at most
-- EXPIRED_PER_CALL per call so that no call pays for a mass expiry others left; the sweep script drains the rest.

local EXPIRED_PER_CALL = 100 -- bounded work per call (see above)

-- Agents whose shared seat was granted beyond the purchased ones (overage), marked until that seat is freed: what
-- ListSharedSessions shows per lease, and, for a group with an overage cap, its members on such seats ('ovg_held').
-- K_GROUPS 'o:<agent>' -> "<group>|<1 when counted in ovg_held>"; the epoch's 'ovg_marks' counts them, so that a
-- release or a page looks for a mark only while some exist.
local function mark_overage_seat(agent, group, in_use)
  due_time()
  if in_use <= overage().limit or overage().mode == 'NONE' then
    return
  end
  local counted = group ~= '' and overage().caps[group] ~= nil
  redis.call('HSET', K_GROUPS, 'o:' .. agent, group .. '|' .. (counted and '1' or '0'))
  if counted then
    count_group('ovg_held', group, 1)
  end
  EPOCH_OVERAGE.marks = EPOCH_OVERAGE.marks + 1
  redis.call('HINCRBY', K_EPOCH, 'ovg_marks', 1)
end

local function unmark_overage_seat(agent)
  due_time()
  if EPOCH_OVERAGE.marks <= 0 then
    return
  end
  local raw = redis.call('HGET', K_GROUPS, 'o:' .. agent)
  if not raw then
    return
  end
  redis.call('HDEL', K_GROUPS, 'o:' .. agent)
  local group, counted = string.match(raw, '^(.*)|(%d)$')
  if counted == '1' then
    count_group('ovg_held', group, -1)
  end
  EPOCH_OVERAGE.marks = EPOCH_OVERAGE.marks - 1
  redis.call('HINCRBY', K_EPOCH, 'ovg_marks', -1)
end

local function on_overage_seat(agent)
  due_time()
  return EPOCH_OVERAGE.marks > 0 and redis.call('HEXISTS', K_GROUPS, 'o:' .. agent) == 1
end

-- Stores a lease in its layout (part 2, "Two layouts"); only grant() calls it. Returns true when the lease took a
-- shared seat (the agent's first).
-- short: the record takes the short form (part 2; compact leases, once every replica reads it).
local function create_lease(id, agent, session, seat, device, platform, kind, now, expires, fence, group, short)
  local grp, took_seat, entry_held = nil, false, nil
  local bucket, _, _, class = compact_place(id)
  if seat == 'CONCURRENT' then
    local held
    held, entry_held = count_holder(agent, 1)
    if held == 1 then
      took_seat = true
      seat_taken(agent, group)
    end
    -- The seat may be counted in a group when the pool has rules, or when it was taken by an earlier
    -- lease of the agent (under rules since removed): then the last lease to end looks it up.
    if held > 1 or #rules() > 0 then
      grp = '1'
    end
    if not bucket then
      redis.call('ZADD', K_SHARED, 0, shared_member(id, now))
    end
  end
  schedule(K_LEASES, expires, lease_member(id))
  local lease = {
    agent = agent, session = session, seat = seat, device = device, platform = platform,
    kind = kind, started = now, beat = now, fence = fence, since = now, grp = grp, short = bucket and short or nil }
  track_reclaim(id, lease, reclaim_at(lease, 0))
  store_lease(id, lease)
  local count, refs, held_before = agent_leases(agent)
  if bucket and #refs < MAX_REFS then
    refs[#refs + 1] = class .. string.format('%d', fence)
  else
    redis.call('HSET', K_SESSIONS, session_field(agent, session), id)
  end
  if class == 'c' then
    local _, number = bucket_of(class, fence)
    redis.call('ZADD', TAG .. ':rc', number, number)
    count_shared(1)
  end
  set_agent_leases(agent, count + 1, refs, entry_held or held_before)
  return took_seat
end

-- What the broker's @compact says of a new lease (LeaseLayoutGate.cs; "Two layouts" in part 1): '0' classic (false),
-- '1' compact with the long record every version reads (true), '2' compact with the short record of part 2 ('short').
local function new_lease_layout(arg)
  if arg == '2' then
    return 'short'
  end
  return arg == '1'
end

-- A new compact lease's id: the class of its seat, its fence, the random part of random_id (the 'ls_' id the broker made).
local function new_compact_id(seat, fence, random_id)
  return compact_id(seat == 'CONCURRENT' and 'c' or 'o', fence, string.sub(random_id, 4))
end

-- The one way a lease comes to exist (acquire, wait_join, the queue's offers, re-establishment, revival):
-- takes the next fencing token (or, on re-establishment and revival, the proven token the lease already had),
-- stores the lease, counts the seat in the agent's group ('' for none) and as overage, moves today's peak and records
-- the seat event. Whether the agent may take the seat is the caller's question (may_take_now).
-- id: a new lease's random 'ls_' id, made compact (new_compact_id) when compact is true or 'short' (then with a short
-- record, part 2); a re-established lease's own id (its record takes the long form, which every version reads).
-- revived: the lease had expired and its app got it back (heartbeat.lua): the seat event says so.
-- Returns the fencing token, the shared seats in use, today's peak and the lease id.
local function grant(id, agent, session, seat, device, platform, kind, expires, proven_fence, group, compact, revived)
  local fence = proven_fence
  if not fence then
    fence = redis.call('INCR', K_FENCE)
    note_fence(fence)
  end
  if compact and not proven_fence then
    id = new_compact_id(seat, fence, id)
  end
  local took_seat = create_lease(id, agent, session, seat, device, platform, kind, NOW, expires, fence, group or '', compact == 'short')
  stats_touch(NOW)
  local in_use = seats_in_use()
  if took_seat then
    mark_overage_seat(agent, group or '', in_use)
    overage_moved(id, agent, agent, NOW, in_use)
  end
  local peak = seat == 'CONCURRENT' and raise_peak(NOW, in_use) or EPOCH_PEAK
  if revived then
    event('revived', id, agent, agent, peak, nil, nil, took_seat and in_use or nil)
  elseif proven_fence then
    event('reestablished', id, agent, agent, peak)
  else
    event('granted', id, agent, agent, peak, nil, nil, took_seat and in_use or nil)
  end
  return fence, in_use, peak, id, took_seat
end

-- Removes one lease and frees its agent's seat when it was the agent's last concurrent lease;
-- kind and actor name the seat event (released, expired, force_released); at: when, if not now.
local function drop_lease(id, lease, kind, actor, at)
  event(kind, id, lease.agent, actor, nil, nil, at)
  redis.call('ZREM', K_LEASES, lease_member(id))
  local bucket, fence, _, class = compact_place(id)
  local count, refs, held = agent_leases(lease.agent)
  local referenced = false
  if bucket then
    local ref = class .. fence
    for i = #refs, 1, -1 do
      if refs[i] == ref then
        table.remove(refs, i)
        referenced = true
      end
    end
  end
  if not referenced then
    redis.call('HDEL', K_SESSIONS, session_field(lease.agent, lease.session))
  end
  if bucket then
    redis.call('HDEL', bucket, fence)
    if class == 'c' then
      count_shared(-1)
      if redis.call('EXISTS', bucket) == 0 then
        redis.call('ZREM', TAG .. ':rc', select(2, bucket_of(class, fence)))
      end
    end
  else
    redis.call('HDEL', K_DATA, id)
    if lease.seat == 'CONCURRENT' then
      redis.call('ZREM', K_SHARED, shared_member(id, lease.started))
    end
  end
  local shared_left = nil
  if lease.seat == 'CONCURRENT' then
    shared_left, held = count_holder(lease.agent, -1)
  end
  set_agent_leases(lease.agent, count - 1, refs, held)
  if lease.reclaim then
    redis.call('ZREM', K_RECLAIM, lease_member(id))
  end
  if shared_left then
    SEAT_FREED = true
    if shared_left == 0 then
      note_release(at or NOW)
      if lease.grp == '1' then
        seat_freed(lease.agent)
      end
      unmark_overage_seat(lease.agent)
      if EPOCH_OVERAGE.count > 0 then
        overage_moved(id, lease.agent, actor, at or NOW, seats_in_use())
      end
    end
  end
end

-- Hands a lease's seat back because it stayed PENDING or idle past its deadline (at): the seat
-- event idle_released, today's 'reclaimed' count, a tombstone so that the app's next heartbeat and
-- its WatchLease learn why (for one lease ttl), and a message that wakes its WatchLease at once.
-- The actor says which rule fired: pending_timeout or idle_timeout. Returns it, and when it happened.
local function reclaim(id, lease, at)
  local pending_ms = idle_rules()
  local cause = 'idle_timeout'
  if pending_ms > 0 and lease.kind == 'Pending' and lease.since + pending_ms == at then
    cause = 'pending_timeout'
  end
  -- An app may report an idle time longer than its lease: the seat was not held before the lease began.
  at = math.max(at, lease.started)
  drop_lease(id, lease, 'idle_released', cause, at)
  stats_touch(NOW)
  redis.call('HINCRBY', K_STATS, stats_field(NOW, 'reclaimed'), 1)
  local ttl = pool_ttl()
  remember_end(id, lease.agent, 'IDLE_RELEASED', cause, at, NOW + ttl)
  redis.call('PUBLISH', CHANNEL, 'ended ' .. id .. ' IDLE_RELEASED ' .. at)
  return cause, at
end
