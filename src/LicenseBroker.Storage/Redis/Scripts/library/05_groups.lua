-- The pool library, part 5 of 10: groups. Owns the pool's group rules and the shared seats in use in all (seats_in_use,
-- with each agent's count: count_holder) and per group (KEYS[17]); seat_open is the seat rule that admission (part 8)
-- builds on.

-- Shared seats in use: one per agent with a live CONCURRENT lease. Its holder count is kept in one of two places:
--   * KEYS[4] (agent -> count), where every broker version before this one counts holders; or
--   * the agent's entry in KEYS[8] ("<count>/<held>", agent_leases in part 2), with the pool's total in the epoch's
--     'entry_seats' (part 3): no hash-table entry of its own, about 50 bytes a holder less.
-- A pool counts new holders in their entries once the broker says every replica reads them (open_pool in part 8 sets
-- the epoch's 'holders'; LeaseLayoutGate.cs), in KEYS[4] before, and again when the broker says no (the way back to an
-- older version). An agent counted the other way moves when one of its shared leases starts or ends, so each agent is
-- counted in one place, and the seats in use are HLEN of KEYS[4] plus 'entry_seats' in either mode and in between.
local HASH_HOLDERS = nil -- HLEN of KEYS[4] once read, kept up to date by count_holder
on_each_call(function()
  HASH_HOLDERS = nil
end)

local function hash_holders()
  if HASH_HOLDERS == nil then
    HASH_HOLDERS = hash_holders_left() and redis.call('HLEN', K_HOLDERS) or 0
  end
  return HASH_HOLDERS
end

local function seats_in_use()
  return hash_holders() + entry_seats()
end

-- The agent's live shared leases, and whether KEYS[4] counts them (else its entry does, or nobody: 0).
local function held_by(agent)
  local _, _, held = agent_leases(agent)
  if held > 0 or hash_holders() == 0 then
    return held, false
  end
  held = tonumber(redis.call('HGET', K_HOLDERS, agent) or '0')
  return held, held > 0
end

-- One shared lease of the agent more (delta 1) or fewer (-1), counted where the pool's mode says (the agent moves
-- there when counted the other way). Returns its shared leases now, and what its entry's held becomes (0 when KEYS[4]
-- counts it): the caller writes the entry with set_agent_leases, as it does for the lease anyway.
local function count_holder(agent, delta)
  local held, in_hash = held_by(agent)
  local now_held = math.max(held + delta, 0)
  local in_entries = now_held > 0 and holders_in_entries()
  if held > 0 and (now_held == 0 or in_hash == in_entries) then -- leaves the place that counted it
    if in_hash then
      redis.call('HDEL', K_HOLDERS, agent)
      HASH_HOLDERS = HASH_HOLDERS - 1
      if HASH_HOLDERS == 0 and holders_in_entries() then
        set_holders_mode('only')
      end
    else
      count_entry_seats(-1)
    end
    held = 0
  end
  if now_held == 0 then
    return 0, 0
  end
  if in_entries then
    if held == 0 then
      count_entry_seats(1)
    end
    return now_held, now_held
  end
  redis.call('HSET', K_HOLDERS, agent, now_held)
  if held == 0 then
    HASH_HOLDERS = HASH_HOLDERS + 1
  end
  return now_held, 0
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

on_each_call(function()
  RULES, RULE_BY_ID, GROUP_COUNTS = nil, {}, nil
end)
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
  if GROUP_COUNTS and GROUP_COUNTS[kind] then -- held and charged are kept for this call; ovg_held is read when asked
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

-- Whether a seat for an agent of group now would be beyond the purchased ones while the group holds its overage cap
-- (set_overage in part 4: at most that many of its members on such seats; counted in K_GROUPS 'ovg_held:<group>' by
-- mark_overage_seat and unmark_overage_seat in part 6). Returns true and the cap, or false.
local function overage_cap_reached(group, in_use)
  local o = overage()
  local cap = o.caps[group]
  if not cap or in_use < o.limit then
    return false
  end
  return tonumber(redis.call('HGET', K_GROUPS, 'ovg_held:' .. group) or '0') >= cap, cap
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
