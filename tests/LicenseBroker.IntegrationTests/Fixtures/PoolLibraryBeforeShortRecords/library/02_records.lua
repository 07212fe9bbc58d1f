-- The pool library, part 2 of 10: records. Owns how a lease, a waiter and an ending are written in their hashes
-- (KEYS[2] or a compact lease's bucket, KEYS[14], KEYS[7]) and read back, and where a lease's record lives in each of
-- the two layouts. Per-call state: the agents' entries of KEYS[8] read so far (AGENT_ENTRIES).

-- Lease records: the fields joined by '|' in LEASE_FIELDS order, the seat type as one letter (JSON with names costs
-- about 130 more bytes a lease). A text holding '|' is written as JSON; JSON records (older brokers') are read too.
-- secret: a compact lease's random characters ("Two layouts" in part 1); classic records have none.
local LEASE_FIELDS = {'agent', 'session', 'seat', 'device', 'platform', 'kind', 'started', 'beat', 'fence', 'since', 'reclaim', 'grp', 'secret'}
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
  -- Trailing empty fields ('since', 'reclaim' of most classic leases) are left out: decode_lease reads them as empty.
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

-- A compact record's bucket (fence / 64): its key for a class, and its number. The one place both are computed.
local RECORD_BUCKET = 64
local function bucket_key(class, number)
  return TAG .. ':r' .. class .. ':' .. number
end
local function bucket_of(class, fence)
  local number = string.format('%d', math.floor(tonumber(fence) / RECORD_BUCKET))
  return bucket_key(class, number), number
end

-- Where a compact lease's record is (bucket key, field = fence, random characters, class); nil for a classic id.
local function compact_place(id)
  local class, fence, secret = string.match(id, '^l([co])_(%d+)_([A-Za-z0-9_-]+)$')
  if not class then
    return nil
  end
  return bucket_of(class, fence), fence, secret, class
end

-- A compact lease's id: class, fence (as Redis writes it) and random characters.
local function compact_id(class, fence, secret)
  return 'l' .. class .. '_' .. string.format('%d', fence) .. '_' .. secret
end

local function load_lease(id)
  local key, field, secret = compact_place(id)
  local raw = redis.call('HGET', key or K_DATA, field or id)
  if not raw then
    return nil
  end
  local lease = decode_lease(raw)
  if secret and lease.secret ~= secret then
    return nil -- the right fence with other random characters: not this lease
  end
  return lease
end

-- Writes a lease's record where its layout keeps it.
local function store_lease(id, lease)
  local key, field, secret = compact_place(id)
  if key then
    lease.secret = secret
    redis.call('HSET', key, field, encode_lease(lease))
  else
    redis.call('HSET', K_DATA, id, encode_lease(lease))
  end
end

-- The agent's entry in KEYS[8]: its live leases in both layouts, and a reference (class .. fence) to each of its first
-- MAX_REFS compact ones (how acquire finds one by its session); the others are in KEYS[3] (count > #refs says so), so
-- an entry stays short whatever one agent does. Read once per call and agent (acquire looks, then grants).
local MAX_REFS = 8
local AGENT_ENTRIES = {}
on_each_call(function()
  AGENT_ENTRIES = {}
end)

-- The agent's count and references (a table the caller may change and give back to set_agent_leases).
local function agent_leases(agent)
  local entry = AGENT_ENTRIES[agent]
  if not entry then
    local raw = redis.call('HGET', K_AGENT_LEASES, agent)
    entry = {count = 0, refs = {}}
    if raw then
      entry.count = tonumber(string.match(raw, '^%d+')) or 0
      for ref in string.gmatch(raw, ' ([co]%d+)') do
        entry.refs[#entry.refs + 1] = ref
      end
    end
    AGENT_ENTRIES[agent] = entry
  end
  return entry.count, {unpack(entry.refs)}
end

local function set_agent_leases(agent, count, refs)
  AGENT_ENTRIES[agent] = {count = math.max(count, 0), refs = refs}
  if count <= 0 then
    redis.call('HDEL', K_AGENT_LEASES, agent)
  else
    redis.call('HSET', K_AGENT_LEASES, agent, string.format('%d', count) .. (#refs > 0 and ' ' .. table.concat(refs, ' ') or ''))
  end
end

-- The compact lease a reference of the agent's entry names: its id and record, or nil.
local function load_ref(ref)
  local class, fence = string.sub(ref, 1, 1), string.sub(ref, 2)
  local raw = redis.call('HGET', bucket_of(class, fence), fence)
  if not raw then
    return nil
  end
  local lease = decode_lease(raw)
  return compact_id(class, fence, lease.secret or ''), lease
end

-- A lease's member in the timed sets (KEYS[1], KEYS[16]): a compact lease's reference (~25 bytes less), a classic id.
local function lease_member(id)
  local class, fence = string.match(id, '^l([co])_(%d+)_') -- the prefix only: no bucket key built on the hot path
  if class then
    return class .. fence
  end
  return id
end

-- The lease a member of a timed set names: its id and record, or nil when it has none.
local function lease_of_member(member)
  if string.match(member, '^[co]%d+$') then
    return load_ref(member)
  end
  local lease = load_lease(member)
  if lease then
    return member, lease
  end
  return nil
end

-- The agent's live lease of this session, either layout: id and record, or nil. Work: MAX_REFS records, one HGET.
local function live_lease_of(agent, session)
  local count, refs = agent_leases(agent)
  for _, ref in ipairs(refs) do
    local ref_id, lease = load_ref(ref)
    if lease and lease.session == session then
      return ref_id, lease
    end
  end
  local id = count > #refs and redis.call('HGET', K_SESSIONS, session_field(agent, session))
  local lease = id and load_lease(id)
  if lease then
    return id, lease
  end
  return nil
end

-- Every live lease of the agents in wanted (a set): {id, record} pairs, found through their entries' references and,
-- when some of them have leases in the sessions index, a scan of it (an admin's change to a pool: rare).
local function leases_of_agents(wanted)
  local found, indexed = {}, false
  for agent in pairs(wanted) do
    local count, refs = agent_leases(agent)
    for _, ref in ipairs(refs) do
      local id, lease = load_ref(ref)
      if lease then
        found[#found + 1] = {id, lease}
      end
    end
    indexed = indexed or count > #refs
  end
  if indexed then
    local all = redis.call('HGETALL', K_SESSIONS)
    for i = 1, #all, 2 do
      local agent = string.match(all[i], '^([^\n]*)\n')
      if agent and wanted[agent] then
        local lease = load_lease(all[i + 1])
        if lease then
          found[#found + 1] = {all[i + 1], lease}
        end
      end
    end
  end
  return found
end

-- A waiter's record (see KEYS[14]), or nil when the agent is not waiting.
local function load_waiter(agent)
  local raw = redis.call('HGET', K_WAITERS, agent)
  if raw then
    return cjson.decode(raw)
  end
  return nil
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
