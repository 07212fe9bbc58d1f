-- The pool library, part 2 of 9: records. Owns how a lease, a waiter and an ending are written in their hashes
-- (KEYS[2], KEYS[14], KEYS[7]) and read back. No per-call state.

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

-- Why the agent's wait was ended by a change (see end_wait), or nil.
local function wait_ending(agent)
  local raw = redis.call('HGET', K_TOMB_DATA, 'w:' .. agent)
  if raw then
    return cjson.decode(raw)
  end
  return nil
end
