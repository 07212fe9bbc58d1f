-- The pool library, part 3 of 10: the epoch and the pool's clock. Owns the epoch hash's due time (when the next
-- timed thing of the pool falls due), the recovery window after a loss of data, the pool's lease ttl as stored,
-- the per-day stats, and the epoch's count of the holders counted in their entries (part 5).
--
-- Losing data (a restart without persistence, a failover to a replica that lagged) must never let
-- more agents in than seats: holders that Redis forgot still work. So when a loss is detected,
-- the pool enters a recovery window of one lease TTL (Consul's lock-delay idea): holders
-- re-establish their leases through their heartbeats, and newcomers wait until the window ends,
-- by which time every live holder has beaten at least once. A loss is detected when
--   * the epoch is absent although the broker knows (from PostgreSQL) that the pool existed, or
--   * the broker holds evidence of a fencing token larger than the pool's counter: the counter only
--     grows, so a smaller one means writes were lost. The counter is then raised to the evidence,
--     so fencing tokens stay monotonic across the loss.
-- Evidence is never a number a client typed: it is a token this replica saw Redis hand out, or
-- the token of a lease proof the broker signed and verified (LeaseProofs.cs). It is range-checked
-- here again (0 .. 2^53-1): a larger number would be stored as a float and break INCR for good.

local DAY_MS = 86400000
local STATS_DAYS_KEPT = 8

-- The pool's next due time, field 'due' of K_EPOCH: no lease expiry, tombstone end, waiter life
-- or reclaim deadline of the pool is earlier. A call with nothing due reads this one field instead of running purge()'s
-- range queries. Every write of one of those times goes through schedule(), which lowers it when
-- needed; it may be early (the lease that was due has been renewed since), and then the purge
-- that finds nothing due sets it again. Absent (new pool, data loss): 0, so the next call purges.
local DUE = nil
local NEVER = 9007199254740991
local EPOCH_READ, RECOVERING_UNTIL = false, false

-- One read of the epoch fields a call needs first: 'due', 'recovering_until' for check_epoch(), 'evseq' for the events
-- finish() appends, 'day' and 'peak' for stats_touch(), 'shared' for count_shared(), 'fence' for note_fence() and,
-- when the call asked for them first (want_settings(): an acquire's or a wait's open_pool), the pool's settings as
-- last stored.
local EVSEQ, EPOCH_DAY, EPOCH_PEAK, EPOCH_SHARED, SHARED_DELTA, SETTINGS_WANTED, SETTINGS = nil, nil, nil, 0, 0, false, nil
local EPOCH_FENCE, FENCE_NOTED = 0, nil
-- The pool's overage as last stored (mode, extra seats, the purchased limit, the groups' caps), its overage seats now
-- ('ovg_n', see overage_moved in part 4) and how many agents hold a seat granted beyond the purchased ones ('ovg_marks',
-- see mark_overage_seat in part 6): read with the rest, so a release learns at no cost whether it has work to do.
local EPOCH_OVERAGE = nil
-- The pool's recent release rate, for the waiters' estimates (eta_ms in part 7): the time between two freed shared seats
-- as an exponentially weighted mean ('rel_gap', ms; 0 until two were seen), and the last release ('rel_at').
local REL_AT, REL_GAP, RELEASE_NOTED = 0, 0, false
-- The holders counted in their entries of KEYS[8] ('entry_seats', plus this call's changes: written once by finish()),
-- and whether new ones are (the epoch's 'holders', see holders_in_entries below): "Shared seats in use" in part 5.
local ENTRY_SEATS, ENTRY_SEATS_DELTA, HOLDERS_MODE = 0, 0, nil
local SETTINGS_FIELDS = {'limit', 'claim', 'ttl', 'pending_ms', 'idle_ms', 'rules', 'rules_version', 'revive_ms', 'grace_ms', 'ovg_mode', 'ovg', 'ovg_caps', 'terms_id'}
local function due_time()
  if DUE == nil then
    local fields = redis.call('HMGET', K_EPOCH, 'due', 'recovering_until', 'evseq', 'day', 'peak', 'shared', 'fence', 'ovg_mode', 'ovg', 'limit', 'ovg_n', 'ovg_caps', 'ovg_marks',
      'rel_at', 'rel_gap', 'entry_seats', 'holders', unpack(SETTINGS_WANTED and SETTINGS_FIELDS or {}))
    DUE = tonumber(fields[1] or '0')
    EPOCH_READ, RECOVERING_UNTIL, EVSEQ = true, fields[2], tonumber(fields[3] or '0')
    EPOCH_DAY, EPOCH_PEAK, EPOCH_SHARED = tonumber(fields[4] or ''), tonumber(fields[5] or ''), tonumber(fields[6] or '0')
    EPOCH_FENCE = tonumber(fields[7] or '0')
    EPOCH_OVERAGE = {mode = fields[8] or 'NONE', extra = tonumber(fields[9] or '0'), limit = tonumber(fields[10] or '0'), count = tonumber(fields[11] or '0'),
      caps = fields[12] or '', marks = tonumber(fields[13] or '0')}
    REL_AT, REL_GAP = tonumber(fields[14] or '0'), tonumber(fields[15] or '0')
    ENTRY_SEATS, HOLDERS_MODE = tonumber(fields[16] or '0'), fields[17] or nil -- HMGET gives false for a missing field
    if SETTINGS_WANTED then
      SETTINGS = {}
      for i = 1, #SETTINGS_FIELDS do
        SETTINGS[i] = fields[17 + i]
      end
    end
  end
  return DUE
end

-- The epoch's copy of the fencing counter (field 'fence'), which heartbeat_fast.lua compares evidence with: one read
-- brings due time, recovery window and fence. The counter itself stays K_FENCE, which every broker version INCRs; the
-- copy is only ever written from the counter's value (a grant's INCR, check_epoch's read), so it is never above the
-- counter and evidence at or below the copy is at or below the counter. A copy behind (a grant by an older broker in
-- a rolling deploy) sends a heartbeat to the full path, whose check_epoch brings it up to date. Written once by
-- finish(), with the call's other epoch fields.
local function note_fence(value)
  due_time()
  if value > EPOCH_FENCE then
    EPOCH_FENCE, FENCE_NOTED = value, value
  end
end

-- Live compact shared leases granted (1) or dropped (-1): counted here, written once by finish() with the call's
-- other epoch fields (the count as read plus the call's changes: one HSET instead of an HINCRBY per lease).
local function count_shared(delta)
  due_time()
  SHARED_DELTA = SHARED_DELTA + delta
end

-- A shared seat was freed at (drop_lease, part 6): the release rate moves. Each new gap weighs a quarter (the last
-- few releases dominate: "recent"); a gap above 10 minutes (a quiet night) counts as 10 minutes. Written once by
-- finish() with the call's other epoch fields.
local RELEASE_WEIGHT, RELEASE_GAP_MAX = 0.25, 600000
local function note_release(at)
  due_time()
  if REL_AT > 0 then
    local gap = math.min(math.max(at - REL_AT, 0), RELEASE_GAP_MAX)
    REL_GAP = REL_GAP > 0 and math.max(math.floor(RELEASE_WEIGHT * gap + (1 - RELEASE_WEIGHT) * REL_GAP + 0.5), 1) or math.max(gap, 1)
  end
  REL_AT, RELEASE_NOTED = math.max(at, REL_AT), true
end

local function entry_seats()
  due_time()
  return ENTRY_SEATS + ENTRY_SEATS_DELTA
end

local function count_entry_seats(delta)
  ENTRY_SEATS_DELTA = ENTRY_SEATS_DELTA + delta
end

-- Where the pool counts new holders (the epoch's 'holders'; "Shared seats in use" in part 5): absent, in the holders
-- hash; 'entries', in their entries, with some still in the hash; 'only', in their entries, the hash empty (no HLEN).
local function holders_in_entries()
  due_time()
  return HOLDERS_MODE ~= nil
end

local function hash_holders_left()
  due_time()
  return HOLDERS_MODE ~= 'only'
end

local function set_holders_mode(mode)
  due_time()
  if mode ~= HOLDERS_MODE then
    HOLDERS_MODE = mode
    if mode then
      redis.call('HSET', K_EPOCH, 'holders', mode)
    else
      redis.call('HDEL', K_EPOCH, 'holders')
    end
  end
end

local function want_settings()
  SETTINGS_WANTED = true
end

-- The settings open_pool() compares (SETTINGS_FIELDS order): from the first read when it had them, else read now.
local function stored_settings()
  return SETTINGS or redis.call('HMGET', K_EPOCH, unpack(SETTINGS_FIELDS))
end

-- ZADD to one of the timed sets (K_LEASES, K_TOMBS, K_WAITER_LIFE, K_RECLAIM): the only way they get a time.
local function schedule(key, at, member)
  redis.call('ZADD', key, at, member)
  if at < due_time() then
    DUE = at
    redis.call('HSET', K_EPOCH, 'due', at)
  end
end

-- The pool's lease ttl as the last acquire or wait stored it in the epoch (ms), read once per call.
local POOL_TTL = nil
local function pool_ttl()
  if POOL_TTL == nil then
    POOL_TTL = tonumber(redis.call('HGET', K_EPOCH, 'ttl') or '60000')
  end
  return POOL_TTL
end

local function stats_field(now, name)
  return 'd' .. math.floor(now / DAY_MS) .. ':' .. name
end

-- Counts into today's stats; the first write of a day forgets the day that fell out of the window, and copies the day's
-- peak into the epoch ('day', 'peak'), so that later calls of the day read it with the epoch instead of the stats.
-- Once per call (STATS_TOUCHED): an acquire asks before it refuses and again when it grants.
local STATS_TOUCHED = false
local function stats_touch(now)
  if STATS_TOUCHED then
    return
  end
  STATS_TOUCHED = true
  local day = math.floor(now / DAY_MS)
  due_time()
  if EPOCH_DAY == day and EPOCH_PEAK then
    return
  end
  if redis.call('HSETNX', K_STATS, 'd' .. day .. ':seen', 1) == 1 then
    local old = 'd' .. (day - STATS_DAYS_KEPT) .. ':'
    redis.call('HDEL', K_STATS, old .. 'seen', old .. 'peak', old .. 'refused', old .. 'reclaimed')
  end
  EPOCH_DAY, EPOCH_PEAK = day, tonumber(redis.call('HGET', K_STATS, stats_field(now, 'peak')) or '0')
  redis.call('HSET', K_EPOCH, 'day', day, 'peak', EPOCH_PEAK)
end

-- Today's peak of shared seats in use (after stats_touch): raised to in_use when it is higher. The epoch's copy can lag
-- a peak an older broker wrote into the stats alone (a rolling deploy): the stats keep the larger of the two.
local function raise_peak(now, in_use)
  if in_use > EPOCH_PEAK then
    local field = stats_field(now, 'peak')
    EPOCH_PEAK = math.max(in_use, tonumber(redis.call('HGET', K_STATS, field) or '0'))
    redis.call('HSET', K_STATS, field, EPOCH_PEAK)
    redis.call('HSET', K_EPOCH, 'peak', EPOCH_PEAK)
  end
  return EPOCH_PEAK
end

on_each_call(function()
  DUE, EPOCH_READ, RECOVERING_UNTIL, EVSEQ, POOL_TTL, STATS_TOUCHED = nil, false, false, nil, nil, false
  EPOCH_DAY, EPOCH_PEAK, EPOCH_SHARED, SHARED_DELTA, SETTINGS_WANTED, SETTINGS = nil, nil, 0, 0, false, nil
  EPOCH_FENCE, FENCE_NOTED, EPOCH_OVERAGE = 0, nil, nil
  REL_AT, REL_GAP, RELEASE_NOTED = 0, 0, false
  ENTRY_SEATS, ENTRY_SEATS_DELTA, HOLDERS_MODE = 0, 0, nil
end)

-- Checks the pool's generation (see the header). mode: UNKNOWN (the broker has not yet asked
-- PostgreSQL whether the pool existed), NEW (it never did) or KNOWN (it did). evidence: the largest
-- fencing token the caller knows was handed out in this pool. Returns the end of the recovery
-- window in ms (0 or past: not recovering), or nil when mode is UNKNOWN and the epoch is absent.
local function check_epoch(mode, now, ttl, evidence)
  evidence = int_arg('evidence', evidence, 0, MAX_FENCE)
  due_time()
  local until_ms = RECOVERING_UNTIL
  if not until_ms then
    if mode == 'UNKNOWN' then
      return nil
    end
    local recover = 0
    if mode == 'KNOWN' then
      recover = now + ttl
    end
    redis.call('HSET', K_EPOCH, 'since', now, 'recovering_until', recover)
    until_ms = recover
  end
  until_ms = tonumber(until_ms)
  -- The epoch's copy is never above the counter (note_fence): evidence at or below it needs no read of the counter.
  if evidence > EPOCH_FENCE then
    local counter = tonumber(redis.call('GET', K_FENCE) or '0')
    if evidence > counter then
      counter = evidence
      redis.call('SET', K_FENCE, string.format('%d', evidence))
      if until_ms < now + ttl then
        until_ms = now + ttl
        redis.call('HSET', K_EPOCH, 'recovering_until', until_ms)
      end
    end
    note_fence(counter)
  end
  RECOVERING_UNTIL = until_ms
  return until_ms
end

-- Whether the pool is in its recovery window after a loss of data (check_epoch): holders come back first, and the queue
-- hands out no seat (promote, part 8) until every live holder had its chance to re-establish its lease.
local function recovering(now)
  due_time()
  return RECOVERING_UNTIL ~= false and RECOVERING_UNTIL ~= nil and now < tonumber(RECOVERING_UNTIL)
end
