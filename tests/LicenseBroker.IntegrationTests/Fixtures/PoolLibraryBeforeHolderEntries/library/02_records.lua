-- The pool library, part 2 of 10: records. Owns how a lease is written in its hash (KEYS[2] or a compact lease's
-- bucket) and read back, in its three forms (JSON, '|'-joined, short), and where a lease's record lives in each of
-- the two layouts (a waiter's record is read in part 7, an ending's in part 4). Per-call state: the agents' entries
-- of KEYS[8] read so far (AGENT_ENTRIES).

-- Lease records: the fields joined by '|' in LEASE_FIELDS order, the seat type as one letter (JSON with names costs
-- about 130 more bytes a lease). A text holding '|' is written as JSON; JSON records (older brokers') are read too.
-- secret: a compact lease's random characters ("Two layouts" in part 1); classic records have none.
-- A short record (lease.short: compact leases granted once every replica reads them, LeaseLayoutGate.cs) is
-- '~' .. secret (always 22 characters) .. 'agent|session|' .. seat, kind and platform letters .. '|device|started|since|
-- reclaim|grp': no fence (its field in the bucket says it), no beat (a listing derives it from the expiry), times in
-- base 36, trailing empty fields left out; about 40 bytes less, so a bucket of 64 stays one small listpack. A lease
-- with a value no letter stands for, or a '|' in a text, takes the long form. It keeps its form when rewritten;
-- heartbeat_fast.lua reads both forms by pattern.
local LEASE_FIELDS = {'agent', 'session', 'seat', 'device', 'platform', 'kind', 'started', 'beat', 'fence', 'since', 'reclaim', 'grp', 'secret'}
local SEAT_LETTER = {CONCURRENT = 'C', NAMED = 'N', UNLIMITED = 'U'}
local SEAT_NAME = {C = 'CONCURRENT', N = 'NAMED', U = 'UNLIMITED'}
local KIND_LETTER, KIND_NAME = {Pending = 'P', Attended = 'A', Unattended = 'U'}, {P = 'Pending', A = 'Attended', U = 'Unattended'}
local PLATFORM_LETTER = {Windows = 'W', Mac = 'M', Ios = 'I', Android = 'A', Linux = 'L', Web = 'B'}
local PLATFORM_NAME = {W = 'Windows', M = 'Mac', I = 'Ios', A = 'Android', L = 'Linux', B = 'Web'}
local DIGITS36 = '0123456789abcdefghijklmnopqrstuvwxyz'
local function base36(n)
  local text = ''
  repeat
    local digit = n % 36
    text = string.sub(DIGITS36, digit + 1, digit + 1) .. text
    n = (n - digit) / 36
  until n == 0
  return text
end

-- nil when the lease cannot take the short form (encode_lease writes the long one).
local function encode_short(lease)
  local seat, kind, platform = SEAT_LETTER[lease.seat], KIND_LETTER[lease.kind], PLATFORM_LETTER[lease.platform]
  local texts = lease.agent .. lease.session .. lease.device .. (lease.grp or '')
  if not (seat and kind and platform) or #lease.secret ~= 22 or string.find(texts, '|', 1, true) then
    return nil
  end
  local since = lease.since ~= lease.started and lease.since and base36(lease.since) or ''
  local record = table.concat({lease.agent, lease.session, seat .. kind .. platform, lease.device, base36(lease.started), since,
    lease.reclaim and base36(lease.reclaim) or '', lease.grp or ''}, '|')
  return '~' .. lease.secret .. string.gsub(record, '|*$', '')
end

local function encode_lease(lease)
  if lease.short then
    local short = encode_short(lease)
    if short then
      return short
    end
  end
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
      lease.short = nil
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

-- fence: the record's field in its bucket (a compact lease's; a short record holds no fence of its own).
local function decode_lease(raw, fence)
  local first = string.sub(raw, 1, 1)
  if first == '{' then
    return cjson.decode(raw)
  end
  local lease = {}
  if first == '~' then
    local agent, session, seat, kind, platform, rest = string.match(raw, '^~......................([^|]*)|([^|]*)|(.)(.)(.)|(.*)$') -- 22 dots: the random characters
    local device, started36, since36, reclaim36, grp = string.match(rest .. '||||', '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)')
    lease = {agent = agent, session = session, seat = SEAT_NAME[seat], kind = KIND_NAME[kind], platform = PLATFORM_NAME[platform],
      device = device, secret = string.sub(raw, 2, 23), short = true, fence = tonumber(fence), started = tonumber(started36, 36),
      grp = grp ~= '' and grp or nil}
    lease.since, lease.reclaim = tonumber(since36, 36) or lease.started, tonumber(reclaim36, 36)
    lease.beat = lease.started -- a listing takes the later of this and expiry - ttl (beat_of in part 9)
    return lease
  end
  local i = 1
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
  local lease = decode_lease(raw, field)
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
  local lease = decode_lease(raw, fence)
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
