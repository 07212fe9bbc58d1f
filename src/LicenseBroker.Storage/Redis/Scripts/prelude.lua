-- Shared prelude of the pool scripts. PoolLibrary.cs loads it once per Redis server as the top of
-- one Function library (FUNCTION LOAD), followed by each script's body registered as a function
-- (lb_<version>_<file name>, called with FCALL): the prelude's functions and tables are built once,
-- not on every call. Each function starts with begin_call(KEYS) (end of this file).
--
-- KEYS (the same layout for every pool script; all under one hash tag, so one slot):
--   KEYS[1]  leases       ZSET   lease id -> expiry (Redis time, ms)
--   KEYS[2]  lease data   HASH   lease id -> record "agent|session|seat|device|platform|kind|started|beat|fence|since|reclaim|grp"
--                                (see encode_lease; since: when the kind last changed; reclaim: see KEYS[16];
--                                grp: 1 when the agent's seat may count in a group, see seat_freed)
--   KEYS[3]  sessions     HASH   agent "\n" session id -> lease id (idempotent acquire)
--   KEYS[4]  holders      HASH   agent -> number of live CONCURRENT leases; HLEN = shared seats in use
--   KEYS[5]  fence        STRING fencing counter of the pool, never expires
--   KEYS[6]  tombstones   ZSET   lease id -> time until which its end is remembered (ms)
--   KEYS[7]  tomb data    HASH   lease id -> JSON {agent, reason, by, at}
--   KEYS[8]  agent leases HASH   agent -> number of live leases of any seat type
--   KEYS[9]  shared index ZSET   all scores 0, member "<started ms, 15 digits>:<lease id>" for every
--                                live CONCURRENT lease: start order with a stable cursor for paging
--   KEYS[10] stats        HASH   "d<day>:peak" / "d<day>:refused": per UTC day (Redis time) the most
--                                shared seats in use at once and the acquires refused as pool full
--   KEYS[11] epoch        HASH   {since, recovering_until}: this Redis's generation of the pool. Absent
--                                when the pool was never used here, or when Redis lost its data.
--                                Also {limit, claim, ttl, pending_ms, idle_ms, rules, rules_version, applied,
--                                queue_seq} (rules_version, applied: see apply_rules.lua) and 'due'
--                                (see schedule() below).
--   KEYS[12] rate         HASH   {window, pool, "a:<agent>"}: acquire attempts in the current fixed
--                                window, for the pool and per agent (abuse limits); reset each window.
--   KEYS[13] queue        ZSET   agent -> join sequence: agents waiting for a shared seat, first in first out
--   KEYS[14] waiters      HASH   agent -> JSON {session, device, platform, kind, offer}: each waiter;
--                                offer is the lease granted to it when it reached the head, until claimed
--   KEYS[15] waiter life  ZSET   agent -> deadline (ms): a waiter whose replica stops refreshing it is dropped
--   KEYS[16] reclaim      ZSET   lease id -> when the broker hands the seat back (ms): a lease still PENDING
--                                pending_ms after its kind last changed, or whose app reports its user idle
--                                for idle_ms (see reclaim_at). Only leases with such a deadline are in it.
--   KEYS[17] groups       HASH   agent groups' shared seats (see "Groups" below): held:<group>, charged:<group>
--                                (of them, on the group's reserved seats), a:<agent> -> "<group>|<0|1>" for each
--                                holder in a group, idx:<group> / cls:<n> / classes: the queue class numbers
--   KEYS[18] class queue  ZSET   agent -> class * 2^40 + join sequence: the same waiters as KEYS[13], by class
--   KEYS[19] seat events  STREAM the pool's seat events not yet in PostgreSQL, in the order they happened, one entry
--                                per call: fields seq (the pool's sequence number of its first event; the others
--                                follow, one each) and e (JSON array, EVENT_FIELDS values per event as event()
--                                writes them). Appended by finish() in the same atomic step as the change each
--                                describes; drained to audit_events by any replica (SeatEventDrain.cs), idempotently
--                                by (pool, seq), and deleted once stored. The epoch's 'evseq' is the last seq given.
--
-- The epoch hash also keeps the pool's concurrent limit and claim window as the last acquire or
-- wait told them, so any script that frees a seat can hand it to the head of the queue.
-- Scripts publish on the pool's channel (<tag>:events): "queue" when positions change or a seat
-- is offered, "revoked <lease id> <by> <at ms>" when an admin ends a lease.
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
--
-- Time is Redis's own (TIME), never a replica's clock. Expired leases are removed here, inside
-- every script, at most EXPIRED_PER_CALL of them per call so that no call pays for a mass expiry
-- that others left behind; the rest is drained by the sweep script in bounded batches.
--
-- Arguments are named: a script writes @name where it uses one, and PoolScript.cs, which binds each
-- name to the C# value it comes from, turns the names into ARGV[n] when it loads the script (a name
-- without a binding, or a binding the script never uses, stops the broker at start). @rest is the
-- index of the first of a variable list of arguments that follows the named ones.
--
-- Replies are named too: a flat list of name, value, name, value..., read by name in C#
-- (ScriptReply.cs). Every script returns payload (its own answer, named as its header says),
-- events (a flat list of the seat events this call caused, EVENT_FIELDS values each, in the order
-- event() writes them: the grants, releases, revocations, expiries and refusals the broker records
-- in one place; flat because a mass expiry reports thousands) and backlog (1 when expired leases
-- remain for the sweeper).

-- Per-call state: the keys of the pool a call works on, and what the call has learned or done so far.
-- The prelude is loaded once per server (a Function library, see PoolLibrary.cs), so these are set
-- afresh by begin_call() at the start of every call (end of this file); the values here are the
-- same starting values, for reading.
local K_LEASES, K_DATA, K_SESSIONS, K_HOLDERS, K_FENCE, K_TOMBS, K_TOMB_DATA, K_AGENT_LEASES, K_SHARED, K_STATS, K_EPOCH, K_RATE
local K_QUEUE, K_WAITERS, K_WAITER_LIFE, K_RECLAIM, K_GROUPS, K_CLASS_QUEUE, K_EVENTS
local CHANNEL

local DAY_MS = 86400000
local STATS_DAYS_KEPT = 8
local MAX_FENCE = 9007199254740991 -- 2^53 - 1: see FencingTokens.MaxValue
local EXPIRED_PER_CALL = 100       -- see the header: bounded work per call
local EVENTS = {}
local EVENT_FIELDS = 8
local NOW = 0
local SEAT_FREED = false
local QUEUE_CHANGED = false
local BACKLOG = 0
local RECLAIM_DUE = 0 -- the earliest reclaim deadline this call wrote (0: none), for the broker's index

-- Numbers are checked at the edge (RequestValidation.cs) and again here, before the first write:
-- a bad one is a bug of the caller, answered with an error that the broker reports as INTERNAL.
local function int_arg(name, value, min, max)
  local n = tonumber(value)
  if not n or n ~= math.floor(n) or n < min or n > max then
    error({err = 'LB_BAD_ARGUMENT ' .. name .. ' must be an integer in ' .. min .. '..' .. max})
  end
  return n
end

-- Records a seat event for the broker's audit log (and webhooks), EVENT_FIELDS values: kind (granted
-- | reestablished | released | expired | force_released | idle_released | refused | queued), lease
-- id, agent, actor, peak and refused (today's counters where the event moved them, else -1), when it
-- happened (ms): now, or for an expiry the moment the lease expired, however much later a call found
-- it; and in_use, the shared seats in use after a grant that took one (else -1: pool.full, pool.threshold).
local function event(kind, id, agent, actor, peak, refused, at, in_use)
  local n = #EVENTS
  EVENTS[n + 1], EVENTS[n + 2], EVENTS[n + 3], EVENTS[n + 4] = kind, id or '', agent, actor
  EVENTS[n + 5], EVENTS[n + 6], EVENTS[n + 7], EVENTS[n + 8] = peak or -1, refused or -1, at or NOW, in_use or -1
end

local function now_ms()
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  return NOW
end

-- Lease records are compact: the fields joined by '|' in LEASE_FIELDS order, the seat type as one
-- letter. A JSON object with field names costs about 130 more bytes per live lease. Ids are
-- validated to exclude '|'; a record whose text holds one anyway is written as JSON, and JSON
-- records (also those of older brokers) are read as well.
local LEASE_FIELDS = {'agent', 'session', 'seat', 'device', 'platform', 'kind', 'started', 'beat', 'fence', 'since', 'reclaim', 'grp'}
local SEAT_LETTER = {CONCURRENT = 'C', NAMED = 'N', UNLIMITED = 'U'}
local SEAT_NAME = {C = 'CONCURRENT', N = 'NAMED', U = 'UNLIMITED'}

local function encode_lease(lease)
  local parts = {}
  for i, name in ipairs(LEASE_FIELDS) do
    local value = lease[name]
    if value == nil or (name == 'since' and value == lease.started) then
      value = '' -- a kind unchanged since the start costs nothing (decode_lease reads '' as 'started')
    elseif name == 'seat' then
      value = SEAT_LETTER[value] or value
    else
      value = tostring(value)
    end
    if string.find(value, '|', 1, true) or (i == 1 and string.sub(value, 1, 1) == '{') then
      return cjson.encode(lease)
    end
    parts[i] = value
  end
  -- Trailing empty fields ('since', 'reclaim' of most leases) are left out: decode_lease reads them as empty.
  while #parts > 9 and parts[#parts] == '' do
    parts[#parts] = nil
  end
  return table.concat(parts, '|')
end

local function decode_lease(raw)
  if string.sub(raw, 1, 1) == '{' then
    return cjson.decode(raw)
  end
  local lease, i = {}, 1
  for value in string.gmatch(raw .. '|', '([^|]*)|') do
    lease[LEASE_FIELDS[i]] = value
    i = i + 1
  end
  lease.seat = SEAT_NAME[lease.seat] or lease.seat
  lease.started, lease.beat, lease.fence = tonumber(lease.started), tonumber(lease.beat), tonumber(lease.fence)
  -- Records written before 'since' and 'reclaim' existed: the kind dates from the start, no deadline.
  lease.since, lease.reclaim = tonumber(lease.since or '') or lease.started, tonumber(lease.reclaim or '')
  return lease
end

local function session_field(agent, session)
  return agent .. '\n' .. session
end

local function shared_member(id, started)
  return string.format('%015d', started) .. ':' .. id
end

local function stats_field(now, name)
  return 'd' .. math.floor(now / DAY_MS) .. ':' .. name
end

-- Counts into today's stats; the first write of a day forgets the day that fell out of the window.
-- Once per call (STATS_TOUCHED): an acquire asks before it refuses and again when it grants.
local STATS_TOUCHED = false
local function stats_touch(now)
  if STATS_TOUCHED then
    return
  end
  STATS_TOUCHED = true
  local day = math.floor(now / DAY_MS)
  if redis.call('HSETNX', K_STATS, 'd' .. day .. ':seen', 1) == 1 then
    local old = 'd' .. (day - STATS_DAYS_KEPT) .. ':'
    redis.call('HDEL', K_STATS, old .. 'seen', old .. 'peak', old .. 'refused', old .. 'reclaimed')
  end
end

-- Groups. A pool may reserve shared seats for an agent group (only its members take them, and they
-- take them first) and cap a group (at most max of its members hold a shared seat at once). The
-- rules come from the catalog as "<group>|<reserved>|<max, -1 for none>" joined by ';' (group ids
-- exclude both separators) and are kept in the epoch for the scripts that free seats. An agent counts
-- in one group per pool, the one the catalog names (the first by id of its groups with a rule here).
-- Seats outside any reservation are "unreserved": limit - sum(reserved). A reservation's seats in use
-- are its members holding a seat charged to it, at most reserved (a lower reservation keeps holders).
local RULES, RULE_BY_ID = nil, {}
local MAX_RULES = 100

local function set_rules(text)
  RULES, RULE_BY_ID = {}, {}
  for entry in string.gmatch(text, '[^;]+') do
    local id, reserved, max = string.match(entry, '^([^|]+)|([^|]+)|([^|]+)$')
    if not id or #RULES >= MAX_RULES then
      error({err = 'LB_BAD_ARGUMENT rules must be at most ' .. MAX_RULES .. ' entries group|reserved|max'})
    end
    local rule = {id = id, reserved = int_arg('rules reserved', reserved, 0, 1000000), max = int_arg('rules max', max, -1, 1000000)}
    RULES[#RULES + 1] = rule
    RULE_BY_ID[id] = rule
  end
end

local function rules()
  if RULES == nil then
    set_rules(redis.call('HGET', K_EPOCH, 'rules') or '')
  end
  return RULES
end

-- The groups' counters (held, charged) this call knows, read once with one HMGET.
local GROUP_COUNTS = nil
local function group_counts()
  if GROUP_COUNTS == nil then
    GROUP_COUNTS = {held = {}, charged = {}}
    local rs = rules()
    if #rs > 0 then
      local fields = {}
      for _, r in ipairs(rs) do
        fields[#fields + 1] = 'held:' .. r.id
        fields[#fields + 1] = 'charged:' .. r.id
      end
      local values = redis.call('HMGET', K_GROUPS, unpack(fields))
      for i, r in ipairs(rs) do
        GROUP_COUNTS.held[r.id] = tonumber(values[2 * i - 1] or '0')
        GROUP_COUNTS.charged[r.id] = tonumber(values[2 * i] or '0')
      end
    end
  end
  return GROUP_COUNTS
end

local function count_group(kind, group, delta)
  local n = redis.call('HINCRBY', K_GROUPS, kind .. ':' .. group, delta)
  if n <= 0 then
    redis.call('HDEL', K_GROUPS, kind .. ':' .. group)
  end
  if GROUP_COUNTS then
    GROUP_COUNTS[kind][group] = math.max(n, 0)
  end
end

-- Whether an agent of group ('' for none) may take a shared seat now, with in_use seats taken of limit.
-- The one admission rule of shared seats: acquire, wait_join and the queue all ask it.
local function seat_open(group, in_use, limit)
  if in_use >= limit then
    return false
  end
  local rs = rules()
  if #rs == 0 then
    return true
  end
  local counts = group_counts()
  local rule = RULE_BY_ID[group]
  if rule then
    if rule.max >= 0 and (counts.held[group] or 0) >= rule.max then
      return false
    end
    if (counts.charged[group] or 0) < rule.reserved then
      return true
    end
  end
  local reserved_total, reserved_used = 0, 0
  for _, r in ipairs(rs) do
    reserved_total = reserved_total + r.reserved
    reserved_used = reserved_used + math.min(counts.charged[r.id] or 0, r.reserved)
  end
  return (limit - reserved_total) - (in_use - reserved_used) > 0
end

-- Why seat_open said no to an agent of group, for the refusal it is told: FULL (every seat taken, or the
-- free ones are being handed to waiters ahead), GROUP_CAP (its group holds its cap: group, cap), or RESERVED
-- (the free seats are kept for other groups: their ids, joined by ',').
local function refusal_of(group, in_use, limit)
  if in_use >= limit or #rules() == 0 then
    return 'FULL', '', -1
  end
  local counts = group_counts()
  local rule = RULE_BY_ID[group]
  if rule and rule.max >= 0 and (counts.held[group] or 0) >= rule.max then
    return 'GROUP_CAP', group, rule.max
  end
  if seat_open(group, in_use, limit) then
    return 'FULL', '', -1
  end
  local keeping = {}
  for _, r in ipairs(rules()) do
    if r.id ~= group and (counts.charged[r.id] or 0) < r.reserved then
      keeping[#keeping + 1] = r.id
    end
  end
  return 'RESERVED', table.concat(keeping, ','), -1
end

-- A waiter's place (wait_join, wait_status): position, seats in use, waiting, and why it waits, as refusal_of
-- says for its group (so the queue says what a refusal would).
local function queued(agent, group, limit)
  local in_use = redis.call('HLEN', K_HOLDERS)
  local rank = redis.call('ZRANK', K_QUEUE, agent)
  local why, about, cap = refusal_of(group, in_use, limit)
  return {'status', 'QUEUED', 'position', rank and rank + 1 or 0, 'in_use', in_use, 'waiting', redis.call('ZCARD', K_QUEUE),
    'why', why, 'about', about, 'cap', cap}
end

-- An agent of group takes a shared seat (its first concurrent lease): counted in its group, and on
-- the group's reserved seats while some are free (members take the reserved ones first).
local function seat_taken(agent, group)
  if group == '' then
    return
  end
  rules()
  local rule = RULE_BY_ID[group]
  local charged = rule ~= nil and (group_counts().charged[group] or 0) < rule.reserved
  count_group('held', group, 1)
  if charged then
    count_group('charged', group, 1)
  end
  redis.call('HSET', K_GROUPS, 'a:' .. agent, group .. '|' .. (charged and '1' or '0'))
end

-- The group the agent's shared seat counts in, and whether on its reserved seats: (group, true|false),
-- or nil when the seat counts in no group (seat_taken writes the entry).
local function seat_group_of(agent)
  local entry = redis.call('HGET', K_GROUPS, 'a:' .. agent)
  if not entry then
    return nil
  end
  local group, charged = string.match(entry, '^(.*)|(%d)$')
  return group, charged == '1'
end

-- The agent's shared seat is free (its last concurrent lease ended): uncounted from its group. Only
-- for a lease marked grp (create_lease), so a pool without group rules pays no lookup here.
local function seat_freed(agent)
  local group, charged = seat_group_of(agent)
  if not group then
    return
  end
  redis.call('HDEL', K_GROUPS, 'a:' .. agent)
  count_group('held', group, -1)
  if charged then
    count_group('charged', group, -1)
  end
end

-- Queue classes: one per group ('' = agents in no group is class 0), numbered in K_GROUPS. Each
-- class keeps its own first-in-first-out order in K_CLASS_QUEUE (score class * 2^40 + sequence).
local CLASS_SPAN = 1099511627776 -- 2^40 joins per pool; classes stay below 8192, so scores stay exact
local MAX_CLASSES = 8000

local function class_of(group, create)
  if group == '' then
    return 0
  end
  local idx = redis.call('HGET', K_GROUPS, 'idx:' .. group)
  if not idx and create then
    idx = redis.call('HINCRBY', K_GROUPS, 'classes', 1)
    if idx > MAX_CLASSES then
      error({err = 'LB_BAD_ARGUMENT too many queue classes in one pool'})
    end
    redis.call('HSET', K_GROUPS, 'idx:' .. group, idx, 'cls:' .. idx, group)
  end
  return tonumber(idx)
end

-- The score range of a class in K_CLASS_QUEUE, as ZRANGEBYSCORE and ZCOUNT take it.
local function class_range(idx)
  return string.format('%d', idx * CLASS_SPAN), '(' .. string.format('%d', (idx + 1) * CLASS_SPAN)
end

-- The first waiter (agent, sequence) of a class, or nil.
local function class_head(idx)
  local from, to = class_range(idx)
  local first = redis.call('ZRANGEBYSCORE', K_CLASS_QUEUE, from, to, 'WITHSCORES', 'LIMIT', 0, 1)
  if first[1] then
    return first[1], tonumber(first[2]) - idx * CLASS_SPAN
  end
  return nil
end

local function dequeue(agent)
  redis.call('ZREM', K_QUEUE, agent)
  redis.call('ZREM', K_CLASS_QUEUE, agent)
end

-- Removes one lease and frees its agent's seat when it was the agent's last concurrent lease;
-- kind and actor name the seat event (released, expired, force_released); at: when, if not now.
local function drop_lease(id, lease, kind, actor, at)
  event(kind, id, lease.agent, actor, nil, nil, at)
  redis.call('ZREM', K_LEASES, id)
  redis.call('HDEL', K_DATA, id)
  redis.call('HDEL', K_SESSIONS, session_field(lease.agent, lease.session))
  if redis.call('HINCRBY', K_AGENT_LEASES, lease.agent, -1) <= 0 then
    redis.call('HDEL', K_AGENT_LEASES, lease.agent)
  end
  if lease.reclaim then
    redis.call('ZREM', K_RECLAIM, id)
  end
  if lease.seat == 'CONCURRENT' then
    SEAT_FREED = true
    redis.call('ZREM', K_SHARED, shared_member(id, lease.started))
    if redis.call('HINCRBY', K_HOLDERS, lease.agent, -1) <= 0 then
      redis.call('HDEL', K_HOLDERS, lease.agent)
      if lease.grp == '1' then
        seat_freed(lease.agent)
      end
    end
  end
end

-- The pool's next due time, field 'due' of K_EPOCH: no lease expiry, tombstone end, waiter life
-- or reclaim deadline of the pool is earlier. A call with nothing due reads this one field instead of running purge()'s
-- range queries. Every write of one of those times goes through schedule(), which lowers it when
-- needed; it may be early (the lease that was due has been renewed since), and then the purge
-- that finds nothing due sets it again. Absent (new pool, data loss): 0, so the next call purges.
local DUE = nil
local NEVER = 9007199254740991
local EPOCH_READ, RECOVERING_UNTIL = false, false

-- One read of the epoch fields a call needs first: 'due', 'recovering_until' for check_epoch(), and
-- 'evseq' for the events finish() appends.
local EVSEQ = nil
local function due_time()
  if DUE == nil then
    local fields = redis.call('HMGET', K_EPOCH, 'due', 'recovering_until', 'evseq')
    DUE = tonumber(fields[1] or '0')
    EPOCH_READ, RECOVERING_UNTIL, EVSEQ = true, fields[2], tonumber(fields[3] or '0')
  end
  return DUE
end

-- ZADD to one of the timed sets (K_LEASES, K_TOMBS, K_WAITER_LIFE, K_RECLAIM): the only way they get a time.
local function schedule(key, at, member)
  redis.call('ZADD', key, at, member)
  if at < due_time() then
    DUE = at
    redis.call('HSET', K_EPOCH, 'due', at)
  end
end

local function remember_end(id, agent, reason, by, at, until_ms)
  schedule(K_TOMBS, until_ms, id)
  redis.call('HSET', K_TOMB_DATA, id, cjson.encode({agent = agent, reason = reason, by = by, at = at}))
end

-- The pool's lease ttl as the last acquire or wait stored it in the epoch (ms), read once per call.
local POOL_TTL = nil
local function pool_ttl()
  if POOL_TTL == nil then
    POOL_TTL = tonumber(redis.call('HGET', K_EPOCH, 'ttl') or '60000')
  end
  return POOL_TTL
end

-- The pool's idle rules (0 = off): pending_ms, how long a lease may stay PENDING; idle_ms, how long
-- its app may report the user idle. Scripts that are told them (acquire, wait_join, heartbeat) set
-- them from their arguments; the others read what open_pool() last stored, only when they need them.
local PENDING_MS, IDLE_MS = nil, nil

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
    schedule(K_RECLAIM, at, id)
    if RECLAIM_DUE == 0 or at < RECLAIM_DUE then
      RECLAIM_DUE = at
    end
  else
    redis.call('ZREM', K_RECLAIM, id)
  end
  lease.reclaim = at
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

-- Drops up to max waiters whose replica stopped refreshing them (it died, or lost its stream).
local function purge_waiters(now, max)
  local dead = redis.call('ZRANGEBYSCORE', K_WAITER_LIFE, '-inf', now, 'LIMIT', 0, max)
  for _, agent in ipairs(dead) do
    dequeue(agent)
    redis.call('HDEL', K_WAITERS, agent)
    redis.call('ZREM', K_WAITER_LIFE, agent)
    QUEUE_CHANGED = true
  end
  if #dead == max then
    BACKLOG = 1
  end
end

-- Drops up to max leases whose expiry is at or before now, and forgets up to max old tombstones.
-- Sets BACKLOG when more remain, so the broker has the sweeper drain them.
local function purge(now, max)
  if now < due_time() then
    return
  end
  max = max or EXPIRED_PER_CALL
  purge_waiters(now, max)
  local expired = redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', now, 'WITHSCORES', 'LIMIT', 0, max)
  for i = 1, #expired, 2 do
    local id = expired[i]
    local raw = redis.call('HGET', K_DATA, id)
    if raw then
      drop_lease(id, decode_lease(raw), 'expired', 'broker', tonumber(expired[i + 1]))
    else
      redis.call('ZREM', K_LEASES, id)
    end
  end
  local reclaimed = redis.call('ZRANGEBYSCORE', K_RECLAIM, '-inf', now, 'WITHSCORES', 'LIMIT', 0, max)
  for i = 1, #reclaimed, 2 do
    local id = reclaimed[i]
    local raw = redis.call('HGET', K_DATA, id)
    if raw then
      reclaim(id, decode_lease(raw), tonumber(reclaimed[i + 1]))
    else
      redis.call('ZREM', K_RECLAIM, id)
    end
  end
  local forgotten = redis.call('ZRANGEBYSCORE', K_TOMBS, '-inf', now, 'LIMIT', 0, max)
  for _, id in ipairs(forgotten) do
    redis.call('HDEL', K_TOMB_DATA, id)
    redis.call('ZREM', K_TOMBS, id)
  end
  if #expired == 2 * max or #reclaimed == 2 * max or #forgotten == max then
    BACKLOG = 1
  end
  if BACKLOG == 1 then
    return -- 'due' stays in the past: the next call (or the sweeper) goes on draining
  end
  local next_due = NEVER
  for _, key in ipairs({K_LEASES, K_TOMBS, K_WAITER_LIFE, K_RECLAIM}) do
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if first[2] and tonumber(first[2]) < next_due then
      next_due = tonumber(first[2])
    end
  end
  DUE = next_due
  redis.call('HSET', K_EPOCH, 'due', string.format('%d', next_due))
end

local function load_lease(id)
  local raw = redis.call('HGET', K_DATA, id)
  if raw then
    return decode_lease(raw)
  end
  return nil
end

-- A waiter's record (see KEYS[14]), or nil when the agent is not waiting.
local function load_waiter(agent)
  local raw = redis.call('HGET', K_WAITERS, agent)
  if raw then
    return cjson.decode(raw)
  end
  return nil
end

-- A waiter leaves the queue now: an offered seat it has not claimed goes back (the seat event kind and
-- actor say why: released by the agent, force_released by an admin's change), its record and life go.
local function leave_queue(agent, waiter, kind, actor)
  if waiter.offer then
    local lease = load_lease(waiter.offer)
    if lease then
      drop_lease(waiter.offer, lease, kind, actor)
    end
  end
  dequeue(agent)
  redis.call('HDEL', K_WAITERS, agent)
  redis.call('ZREM', K_WAITER_LIFE, agent)
  QUEUE_CHANGED = true
end

-- Ends a wait that an admin's change withdrew (leave_queue), and remembers why under the tombstone
-- 'w:<agent>' (lease ids never start so) for remember_ms, so that the agent's stream (wait_status) ends
-- with the reason: SEAT_WITHDRAWN (its shared seat was removed or switched, or the subscription ended) |
-- REVOKED (by).
local function end_wait(agent, waiter, reason, by, remember_ms)
  leave_queue(agent, waiter, 'force_released', by)
  remember_end('w:' .. agent, agent, reason, by, NOW, NOW + remember_ms)
end

-- Why the agent's wait was ended by a change (see end_wait), or nil.
local function wait_ending(agent)
  local raw = redis.call('HGET', K_TOMB_DATA, 'w:' .. agent)
  if raw then
    return cjson.decode(raw)
  end
  return nil
end

-- Checks the pool's generation (see the header). mode: UNKNOWN (the broker has not yet asked
-- PostgreSQL whether the pool existed), NEW (it never did) or KNOWN (it did). evidence: the largest
-- fencing token the caller knows was handed out in this pool. Returns the end of the recovery
-- window in ms (0 or past: not recovering), or nil when mode is UNKNOWN and the epoch is absent.
local function check_epoch(mode, now, ttl, evidence)
  evidence = int_arg('evidence', evidence, 0, MAX_FENCE)
  local until_ms = RECOVERING_UNTIL
  if not EPOCH_READ then
    until_ms = redis.call('HGET', K_EPOCH, 'recovering_until')
  end
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
  if evidence > tonumber(redis.call('GET', K_FENCE) or '0') then
    redis.call('SET', K_FENCE, string.format('%d', evidence))
    if until_ms < now + ttl then
      until_ms = now + ttl
      redis.call('HSET', K_EPOCH, 'recovering_until', until_ms)
    end
  end
  return until_ms
end

-- Start of the scripts that admit (acquire, wait_join): checks the epoch, then records the pool's
-- limit, claim window, lease ttl, idle rules and group rules (rules_text, as set_rules() reads it)
-- for the scripts that free seats or reclaim them. version is the catalog version the caller's rules
-- were read at (see apply_rules.lua): a caller whose rules are older than the pool's changes nothing
-- and must reload them, so no grant uses rules older than the last change an admin committed.
-- Returns the end of the recovery window, or nil when the caller must answer NO_EPOCH; and, when the
-- caller's rules are older than the pool's, the pool's version (the caller answers STALE).
local function open_pool(now, ttl, mode, evidence, limit, claim, rules_text, version)
  version = int_arg('rules_version', version, 0, MAX_FENCE)
  set_rules(rules_text)
  local recovering_until = check_epoch(mode, now, ttl, evidence)
  if recovering_until then
    -- Written only when one of them changed: a read, where a write went to the AOF and the replicas on every acquire.
    local values = {limit, claim, ttl, PENDING_MS, IDLE_MS, rules_text, string.format('%d', version)}
    local stored = redis.call('HMGET', K_EPOCH, 'limit', 'claim', 'ttl', 'pending_ms', 'idle_ms', 'rules', 'rules_version')
    local stored_version = tonumber(stored[7] or '0')
    if version < stored_version then
      return recovering_until, stored_version
    end
    for i = 1, #values do
      if stored[i] ~= tostring(values[i]) then
        redis.call('HSET', K_EPOCH, 'limit', limit, 'claim', claim, 'ttl', ttl, 'pending_ms', PENDING_MS, 'idle_ms', IDLE_MS, 'rules', rules_text,
          'rules_version', values[7])
        break
      end
    end
  end
  return recovering_until, nil
end

-- Counts an acquire attempt against the abuse limits (0 = no limit). Returns nil when allowed,
-- or the ms until the current window ends when a limit is exceeded.
local function rate_limited(now, window_ms, pool_limit, agent_limit, agent)
  if window_ms <= 0 or (pool_limit <= 0 and agent_limit <= 0) then
    return nil
  end
  local window = math.floor(now / window_ms)
  if tonumber(redis.call('HGET', K_RATE, 'window') or '-1') ~= window then
    redis.call('DEL', K_RATE)
    redis.call('HSET', K_RATE, 'window', window)
    redis.call('PEXPIRE', K_RATE, window_ms * 2)
  end
  local pool_count = redis.call('HINCRBY', K_RATE, 'pool', 1)
  local agent_count = redis.call('HINCRBY', K_RATE, 'a:' .. agent, 1)
  if (pool_limit > 0 and pool_count > pool_limit) or (agent_limit > 0 and agent_count > agent_limit) then
    return (window + 1) * window_ms - now
  end
  return nil
end

-- Stores a lease; only grant() calls it. Returns true when the lease took a shared seat (the agent's first).
local function create_lease(id, agent, session, seat, device, platform, kind, now, expires, fence, group)
  local grp, took_seat = nil, false
  if seat == 'CONCURRENT' then
    local held = redis.call('HINCRBY', K_HOLDERS, agent, 1)
    if held == 1 then
      took_seat = true
      seat_taken(agent, group)
    end
    -- The seat may be counted in a group when the pool has rules, or when it was taken by an earlier
    -- lease of the agent (under rules since removed): then the last lease to end looks it up.
    if held > 1 or #rules() > 0 then
      grp = '1'
    end
    redis.call('ZADD', K_SHARED, 0, shared_member(id, now))
  end
  schedule(K_LEASES, expires, id)
  local lease = {
    agent = agent, session = session, seat = seat, device = device, platform = platform,
    kind = kind, started = now, beat = now, fence = fence, since = now, grp = grp }
  track_reclaim(id, lease, reclaim_at(lease, 0))
  redis.call('HSET', K_DATA, id, encode_lease(lease))
  redis.call('HSET', K_SESSIONS, session_field(agent, session), id)
  redis.call('HINCRBY', K_AGENT_LEASES, agent, 1)
  return took_seat
end

-- The one way a lease comes to exist (acquire, wait_join, the queue's offers, re-establishment):
-- takes the next fencing token (or, on re-establishment, the proven token the lease already had),
-- stores the lease, counts the seat in the agent's group ('' for none), moves today's peak and
-- records the seat event. Whether the agent may take the seat is the caller's question (seat_open).
-- Returns the fencing token, the shared seats in use and today's peak.
local function grant(id, agent, session, seat, device, platform, kind, expires, proven_fence, group)
  local fence = proven_fence or redis.call('INCR', K_FENCE)
  local took_seat = create_lease(id, agent, session, seat, device, platform, kind, NOW, expires, fence, group or '')
  stats_touch(NOW)
  local peak_field = stats_field(NOW, 'peak')
  local in_use = redis.call('HLEN', K_HOLDERS)
  local peak = tonumber(redis.call('HGET', K_STATS, peak_field) or '0')
  if seat == 'CONCURRENT' and in_use > peak then
    peak = in_use
    redis.call('HSET', K_STATS, peak_field, peak)
  end
  if proven_fence then
    event('reestablished', id, agent, agent, peak)
  else
    event('granted', id, agent, agent, peak, nil, nil, took_seat and in_use or nil)
  end
  return fence, in_use, peak
end

-- The earliest waiter who may take a shared seat now, with in_use of limit taken: the head of the
-- queue, or with group rules the earliest head among the classes whose members may take one (a
-- waiter who may not take the seat does not block one who may; within a class, nobody overtakes).
-- Work is bounded by the number of classes, not by the queue.
local function next_waiter(in_use, limit)
  if #rules() == 0 then
    if in_use >= limit then
      return nil
    end
    return redis.call('ZRANGE', K_QUEUE, 0, 0)[1]
  end
  local classes = tonumber(redis.call('HGET', K_GROUPS, 'classes') or '0')
  local names = {}
  if classes > 0 then
    local fields = {}
    for idx = 1, classes do
      fields[idx] = 'cls:' .. idx
    end
    names = redis.call('HMGET', K_GROUPS, unpack(fields))
  end
  local best, best_seq = nil, nil
  for idx = 0, classes do
    local group = ''
    if idx > 0 then
      group = names[idx]
    end
    if group and seat_open(group, in_use, limit) then
      local agent, seq = class_head(idx)
      if agent and (best_seq == nil or seq < best_seq) then
        best, best_seq = agent, seq
      end
    end
  end
  return best
end

-- Hands free shared seats to the waiters who may take them (next_waiter): each gets a lease that
-- lives for the claim window only; its replica claims it (renews it to a full lease) or it expires
-- and the seat goes to the next waiter.
local function promote(now)
  if redis.call('ZCARD', K_QUEUE) == 0 then
    return
  end
  local fields = redis.call('HMGET', K_EPOCH, 'limit', 'claim', 'rules')
  local limit, claim = tonumber(fields[1] or '0'), tonumber(fields[2] or '10000')
  if RULES == nil then
    set_rules(fields[3] or '')
  end
  while true do
    local head = next_waiter(redis.call('HLEN', K_HOLDERS), limit)
    if not head then
      break
    end
    dequeue(head)
    local waiter = load_waiter(head)
    local id = waiter.offer_id
    grant(id, head, waiter.session, 'CONCURRENT', waiter.device, waiter.platform, waiter.kind, now + claim, nil, waiter.group or '')
    waiter.offer = id
    redis.call('HSET', K_WAITERS, head, cjson.encode(waiter))
    QUEUE_CHANGED = true
  end
end

-- Appends this call's seat events to the pool's stream (KEYS[19]) as one entry, numbered from the next of
-- the pool's sequence, one each: in the same atomic step as the changes they describe, so a broker that dies
-- after the call, or a PostgreSQL that is away, loses none. One entry a call, not one an event: a sweep of
-- thousands of expiries stays one XADD and one JSON encoding. The sequence only grows, also across a loss of
-- the epoch: it never falls below Redis's clock in microseconds (ms * 1000, below 2^53 until the year 2255).
-- Returns the first number given (0: no events).
local function journal()
  if #EVENTS == 0 then
    return 0
  end
  due_time()
  local first = math.max(EVSEQ + 1, NOW * 1000)
  EVSEQ = first + #EVENTS / EVENT_FIELDS - 1
  redis.call('XADD', K_EVENTS, '*', 'seq', string.format('%d', first), 'e', cjson.encode(EVENTS))
  redis.call('HSET', K_EPOCH, 'evseq', string.format('%d', EVSEQ))
  return first
end

-- Every script ends here: seats freed by this call go to waiters first, and replicas holding
-- waiters' streams are told the queue moved; the call's seat events go to the pool's stream.
local function finish(payload)
  if SEAT_FREED then
    promote(NOW)
  end
  if QUEUE_CHANGED then
    redis.call('PUBLISH', CHANNEL, 'queue')
  end
  local first_seq = journal()
  return {'payload', payload, 'events', EVENTS, 'first_seq', first_seq, 'backlog', BACKLOG, 'reclaim_due', RECLAIM_DUE}
end

-- Why a lease of the agent ended, when the app must be told (remembered for one lease lifetime):
-- {reason = REVOKED (an admin; by = who) | IDLE_RELEASED (by = the rule), at} or nil.
local function ending_of(id, agent)
  local raw = redis.call('HGET', K_TOMB_DATA, id)
  if raw then
    local tomb = cjson.decode(raw)
    if tomb.agent == agent and (tomb.reason == 'REVOKED' or tomb.reason == 'IDLE_RELEASED') then
      return tomb
    end
  end
  return nil
end

-- The fields ListSharedSessions and ForceRelease report for a lease.
-- Lists of leases are tables: the column names once (LEASE_COLUMNS), then one row per lease in that
-- order, read by column name in C# (ScriptReply.Rows): as named as a record, without repeating nine
-- names for each of a page's hundred leases.
-- seat_group: the group the agent's shared seat counts in ('' for none); reserved: 1 when on its reserved seats.
local LEASE_COLUMNS = {'lease_id', 'agent', 'session', 'device', 'platform', 'kind', 'started_ms', 'beat_ms', 'expires_ms', 'seat_group', 'reserved'}
-- When the lease's app last renewed it: a heartbeat that changes nothing else only moves the expiry
-- (heartbeat.lua), so the record's beat is the last renewal that rewrote it, and expiry - ttl the latest.
local function beat_of(lease, expires)
  if expires and expires - pool_ttl() > lease.beat then
    return expires - pool_ttl()
  end
  return lease.beat
end

local function describe(id, lease)
  local group, reserved = '', 0
  if lease.seat == 'CONCURRENT' then
    local g, charged = seat_group_of(lease.agent)
    if g then
      group, reserved = g, charged and 1 or 0
    end
  end
  local expires = tonumber(redis.call('ZSCORE', K_LEASES, id))
  return {id, lease.agent, lease.session, lease.device, lease.platform, lease.kind,
    lease.started, beat_of(lease, expires), expires, group, reserved}
end

-- Starts a call: the pool's keys, and every piece of per-call state back to its starting value (a
-- Function library's upvalues live as long as the library; nothing may leak from one call to the next).
local function begin_call(keys)
  K_LEASES, K_DATA, K_SESSIONS, K_HOLDERS, K_FENCE, K_TOMBS, K_TOMB_DATA, K_AGENT_LEASES, K_SHARED, K_STATS, K_EPOCH, K_RATE =
    keys[1], keys[2], keys[3], keys[4], keys[5], keys[6], keys[7], keys[8], keys[9], keys[10], keys[11], keys[12]
  K_QUEUE, K_WAITERS, K_WAITER_LIFE, K_RECLAIM, K_GROUPS, K_CLASS_QUEUE, K_EVENTS = keys[13], keys[14], keys[15], keys[16], keys[17], keys[18], keys[19]
  CHANNEL = string.sub(K_LEASES, 1, -8) .. ':events'
  EVENTS, NOW, SEAT_FREED, QUEUE_CHANGED, BACKLOG, RECLAIM_DUE = {}, 0, false, false, 0, 0
  RULES, RULE_BY_ID, GROUP_COUNTS = nil, {}, nil
  DUE, EPOCH_READ, RECOVERING_UNTIL, EVSEQ = nil, false, false, nil
  PENDING_MS, IDLE_MS, POOL_TTL, STATS_TOUCHED = nil, nil, nil, false
end
