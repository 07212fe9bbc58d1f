-- The pool library, part 1 of 10: the call. Owns the pool's keys, the call's outputs (seat events, flags
-- finish() reads), and the start of every call (begin_call). Shared rules of the whole library:
--
-- PoolLibrary.cs concatenates the parts of this folder in the order of their numbers into one Redis Function
-- library (FUNCTION LOAD), followed by each script's body (Scripts/<name>.lua) registered as a function
-- lb_<version>_<name>, called with FCALL: the library's functions and tables are built once per server, not on
-- every call. Each function starts with begin_call(KEYS). A part uses only what the parts before it define.
--
-- Module-level names outlive a call (a Function library is loaded once): a part that keeps per-call state
-- declares it and registers, with on_each_call(), the function that puts it back to its starting value. Nothing
-- may leak from one call to the next (StorageLayoutTests checks that every such name is reset).
--
-- KEYS (the same layout for every pool script; all under one hash tag, so one slot):
--   KEYS[1]  leases       ZSET   lease member (lease_member in part 2: c|o and the fence for a compact lease, the id for
--                                a classic one) -> expiry (Redis time, ms)
--   KEYS[2]  lease data   HASH   classic lease id -> record "agent|session|seat|device|platform|kind|started|beat|fence|since|reclaim|grp"
--                                (see encode_lease; since: when the kind last changed; reclaim: see KEYS[16];
--                                grp: 1 when the agent's seat may count in a group, see seat_freed). Compact leases
--                                (the layout of part 2, "Two layouts") keep their records in buckets instead:
--                <tag>:r<c|o>:<n> HASH   fence -> record (with the lease id's secret as a 13th field, or the short form
--                                "~<22 random characters>agent|session|<seat, kind, platform letters>|device|started|
--                                since|reclaim|grp" of part 2),
--                                n = fence / 64
--                <tag>:rc       ZSET   the numbers of the non-empty shared-lease buckets (ListSharedSessions' pages)
--   KEYS[3]  sessions     HASH   agent "\n" session id -> lease id (idempotent acquire) of classic leases, and of an
--                                agent's compact leases beyond the MAX_REFS its entry in KEYS[8] names
--   KEYS[4]  holders      HASH   agent -> number of live CONCURRENT leases, for the agents a pool counts here (all of them
--                                until its replicas count holders in their entries of KEYS[8]: "Shared seats in use" in
--                                part 5); HLEN plus the epoch's 'entry_seats' = shared seats in use
--   KEYS[5]  fence        STRING fencing counter of the pool, never expires (the epoch keeps a copy, note_fence in part 3)
--   KEYS[6]  tombstones   ZSET   lease id -> time until which its end is remembered (ms)
--   KEYS[7]  tomb data    HASH   lease id -> JSON {agent, reason, by, at}
--   KEYS[8]  agent leases HASH   agent -> "<number of live leases of any seat type>[/<held>][ <c|o><fence>]...": the count,
--                                the agent's live CONCURRENT leases when counted here (not in KEYS[4]), then a reference
--                                to each of the agent's first compact leases (see agent_leases in part 2)
--   KEYS[9]  shared index ZSET   all scores 0, member "<started ms, 15 digits>:<lease id>" for every live classic
--                                CONCURRENT lease: start order with a stable cursor for paging (compact ones page by
--                                fence, the grant order)
--   KEYS[10] stats        HASH   "d<day>:peak" / "d<day>:refused": per UTC day (Redis time) the most
--                                shared seats in use at once and the acquires refused as pool full
--   KEYS[11] epoch        HASH   {since, recovering_until}: this Redis's generation of the pool. Absent
--                                when the pool was never used here, or when Redis lost its data.
--                                Also {limit, claim, ttl, pending_ms, idle_ms, rules, rules_version, applied,
--                                queue_seq} (rules_version, applied: see apply_rules.lua) and 'due'
--                                (see schedule() below), 'shared' (live compact shared leases, count_shared()),
--                                'day' and 'peak' (today's peak of shared seats, a copy of the stats', stats_touch()),
--                                'fence' (a copy of KEYS[5], never above it, note_fence()), 'entry_seats' and 'holders'
--                                (the holders counted in KEYS[8]; 'entries' or 'only' when new ones are: part 5).
--   KEYS[12] rate         HASH   {window, pool, "a:<agent>"}: acquire attempts in the current fixed
--                                window, for the pool and per agent (abuse limits); reset each window.
--   KEYS[13] queue        ZSET   agent -> join sequence: agents waiting for a shared seat, first in first out
--   KEYS[14] waiters      HASH   agent -> JSON {session, device, platform, kind, offer}: each waiter;
--                                offer is the lease granted to it when it reached the head, until claimed
--   KEYS[15] waiter life  ZSET   agent -> deadline (ms): a waiter whose replica stops refreshing it is dropped
--   KEYS[16] reclaim      ZSET   lease member (as KEYS[1]) -> when the broker hands the seat back (ms): a lease still PENDING
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
-- Two layouts. A classic lease (id 'ls_' and 22 random characters: every lease of the brokers before the compact
-- layout) has its record in KEYS[2] under its id, its session in KEYS[3] and, when shared, its place in KEYS[9]. A
-- compact lease (id 'l' .. class .. '_' .. fence .. '_' .. 22 random characters; class c for a shared seat, o for any
-- other) has its record in its class's bucket of 64 fences, under its fence: Redis keeps a hash of at most 128 short
-- entries as one listpack, a few bytes per entry where a large hash spends about 60. It has no session entry (acquire
-- finds it through the agent's entry in KEYS[8], up to MAX_REFS leases an agent) and no index entry (the fence is the
-- grant order; the shared buckets are listed in <tag>:rc). Its record keeps the id's random characters, checked on
-- every read: a lease id still carries 128 random bits, and a fence alone names nothing. Every call reads both
-- layouts; a grant makes a compact lease when the broker says every replica reads them (LeaseLayoutGate.cs), so a
-- broker of the version before, beside it in a rolling deploy, never meets a lease it cannot read. Classic leases stay
-- classic until they end.
--
-- The epoch hash also keeps the pool's concurrent limit and claim window as the last acquire or
-- wait told them, so any script that frees a seat can hand it to the head of the queue.
-- Scripts publish on the pool's channel (<tag>:events): "queue" when positions change or a seat
-- is offered, "revoked <lease id> <by> <at ms>" when an admin ends a lease.
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
-- remain for the janitor).

-- Per-call state: the keys of the pool a call works on, and what the call has done so far that finish() reports.
-- The values here are the starting values begin_call() sets again, for reading.
local K_LEASES, K_DATA, K_SESSIONS, K_HOLDERS, K_FENCE, K_TOMBS, K_TOMB_DATA, K_AGENT_LEASES, K_SHARED, K_STATS, K_EPOCH, K_RATE
local K_QUEUE, K_WAITERS, K_WAITER_LIFE, K_RECLAIM, K_GROUPS, K_CLASS_QUEUE, K_EVENTS
local CHANNEL, TAG

local MAX_FENCE = 9007199254740991 -- 2^53 - 1: see FencingTokens.MaxValue
local EVENTS = {}
-- A seat event's values, in this order (SeatEventCodec.Columns reads them by these names; a test keeps the two equal).
local EVENT_COLUMNS = {'kind', 'lease_id', 'agent', 'actor', 'peak', 'refused', 'at_ms', 'in_use'}
local EVENT_FIELDS = #EVENT_COLUMNS
local NOW = 0
local SEAT_FREED = false
local QUEUE_CHANGED = false
local BACKLOG = 0

-- The resets of the parts' per-call state, in the order the parts registered them.
local RESETS = {}
local function on_each_call(reset)
  RESETS[#RESETS + 1] = reset
end

-- Starts a call: the pool's keys, and every piece of per-call state back to its starting value.
local function begin_call(keys)
  K_LEASES, K_DATA, K_SESSIONS, K_HOLDERS, K_FENCE, K_TOMBS, K_TOMB_DATA, K_AGENT_LEASES, K_SHARED, K_STATS, K_EPOCH, K_RATE =
    keys[1], keys[2], keys[3], keys[4], keys[5], keys[6], keys[7], keys[8], keys[9], keys[10], keys[11], keys[12]
  K_QUEUE, K_WAITERS, K_WAITER_LIFE, K_RECLAIM, K_GROUPS, K_CLASS_QUEUE, K_EVENTS = keys[13], keys[14], keys[15], keys[16], keys[17], keys[18], keys[19]
  TAG = string.sub(K_LEASES, 1, -8)
  CHANNEL = TAG .. ':events'
  EVENTS, NOW, SEAT_FREED, QUEUE_CHANGED, BACKLOG = {}, 0, false, false, 0
  for i = 1, #RESETS do
    RESETS[i]()
  end
end

-- Numbers are checked at the edge (RequestValidation.cs) and again here, before the first write:
-- a bad one is a bug of the caller, answered with an error that the broker reports as INTERNAL.
local function int_arg(name, value, min, max)
  local n = tonumber(value)
  if not n or n ~= math.floor(n) or n < min or n > max then
    error({err = 'LB_BAD_ARGUMENT ' .. name .. ' must be an integer in ' .. min .. '..' .. max})
  end
  return n
end

-- Records a seat event for the broker's audit log (and webhooks), the EVENT_COLUMNS: kind (granted
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
