-- heartbeat_fast: renews a live lease when nothing but its expiry changes, the most frequent call of all; anything
-- else is answered FULL and the broker calls heartbeat.lua, which knows every case. It runs without the library's
-- per-call state (no begin_call, no purge, no events): its own four keys, five arguments, a flat reply, and no decode
-- of the lease record (one pattern match reads the fields it checks, in either of its two '|'-joined forms).
--
-- KEYS: its own, three of the pool layout of library/01_call.lua:
--   KEYS[1] leases (layout KEYS[1]), KEYS[2] lease data (KEYS[2]), KEYS[3] epoch (KEYS[11]);
--   a compact lease's bucket is named from KEYS[1]'s hash tag, so it is in the same slot. The fencing counter is read
--   from the epoch's copy ('fence', see note_fence in library/03_epoch.lua): one read brings due time, recovery window
--   and fence.
-- @agent agent id (a lease of another agent goes to heartbeat.lua, which answers it as not found)
-- @lease_id lease id
-- @ttl_ms lease ttl (ms)
-- @evidence the largest fencing token the broker saw in this pool or verified in a lease proof (see library/03_epoch.lua)
-- @kind the session kind the app reports now, or '' when it reports none
-- Records no seat event (a renewal is not one).
-- Returns (flat): RENEWED, expires_ms, fence, seat, session; or FULL: call heartbeat.lua. FULL when the epoch is absent,
--   the pool's due time has come (expiries, tombstones, reclaim deadlines to act on), the pool is in its recovery
--   window, the evidence is above the pool's counter (lost writes), the lease is unknown, another agent's or a JSON
--   record, its kind changes, or it has a reclaim deadline (an idle report to undo, a pending timeout to act on).
-- The broker calls it only when the pool has no pending timeout (a PENDING lease must get its deadline when an admin
-- sets one, which heartbeat.lua does) and the app reports no idle time.

local ttl = tonumber(@ttl_ms)
local evidence = tonumber(@evidence)
if not ttl or ttl < 1000 or ttl > 86400000 or ttl ~= math.floor(ttl) or not evidence or evidence < 0 or evidence > 9007199254740991 then
  return {'FULL'} -- heartbeat.lua checks its arguments and says which is wrong
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = now + ttl
local epoch = redis.call('HMGET', KEYS[3], 'due', 'recovering_until', 'fence')
local due, recovering_until = tonumber(epoch[1] or '0'), tonumber(epoch[2])
if not recovering_until or now >= due or expires < due or now < recovering_until or evidence > tonumber(epoch[3] or '0') then
  return {'FULL'}
end
local id = @lease_id
-- A compact lease's record is in its bucket (see "Two layouts" in library/01_call.lua), a classic one's in KEYS[2].
local class, bucket_fence, secret = string.match(id, '^l([co])_(%d+)_([A-Za-z0-9_-]+)$')
local raw
if class then
  local bucket = string.format('%d', math.floor(tonumber(bucket_fence) / 64))
  raw = redis.call('HGET', string.sub(KEYS[1], 1, -8) .. ':r' .. class .. ':' .. bucket, bucket_fence)
else
  raw = redis.call('HGET', KEYS[2], id)
end
if not raw then
  return {'FULL'}
end
-- Both forms give the owner, session, seat, kind, fence, reclaim deadline and random characters the checks below read.
local agent, session, seat, kind, fence, reclaim, stored
if string.sub(raw, 1, 1) == '~' then
  -- The short form (encode_short in library/02_records.lua): '~', the 22 random characters, then agent|session|seat,
  -- kind and platform letters|device|started|since|reclaim|grp, trailing empty fields left out; the fence is the
  -- bucket's field. The kinds' letters are KIND_NAME of library/02_records.lua (this script runs without the library).
  local letter, rest
  agent, session, seat, letter, rest = string.match(raw, '^~......................([^|]*)|([^|]*)|(.)(.).|(.*)$') -- 22 dots: the random characters
  if not rest then
    return {'FULL'}
  end
  kind, fence, stored = ({P = 'Pending', A = 'Attended', U = 'Unattended'})[letter], bucket_fence, string.sub(raw, 2, 23)
  reclaim = string.match(rest, '^[^|]*|[^|]*|[^|]*|([^|]*)')
else
  -- agent|session|seat|device|platform|kind|started|beat|fence, then optionally |since|reclaim|grp|secret (encode_lease).
  local rest
  agent, session, seat, kind, fence, rest = string.match(raw, '^([^|]*)|([^|]*)|([^|]*)|[^|]*|[^|]*|([^|]*)|[^|]*|[^|]*|(%d+)(.*)$')
  if not rest then
    return {'FULL'}
  end
  reclaim, stored = string.match(rest, '^|[^|]*|([^|]*)'), string.match(rest, '^|[^|]*|[^|]*|[^|]*|(.*)$')
end
local reported = @kind
if agent ~= @agent or (reported ~= '' and reported ~= kind) or (reclaim and reclaim ~= '') then
  return {'FULL'}
end
if stored ~= secret then
  return {'FULL'} -- the fence of another lease: heartbeat.lua answers it as not found
end
redis.call('ZADD', KEYS[1], 'XX', expires, class and class .. bucket_fence or id)
return {'RENEWED', expires, fence, seat, session}
