-- The pool library, part 7 of 10: the queue. Owns the waiters' order (priority classes with aging, one line per group),
-- how a wait begins and ends (joined, restored, left, timed out, abandoned, ended by a change), the wait estimate, and
-- the purge of what fell due, and how a waiter's record (KEYS[14]) is read. No per-call state.

-- A waiter's record (see KEYS[14]), or nil when the agent is not waiting.
local function load_waiter(agent)
  local raw = redis.call('HGET', K_WAITERS, agent)
  if raw then
    return cjson.decode(raw)
  end
  return nil
end

-- Queue classes: one per group ('' = agents in no group is class 0), numbered in K_GROUPS. Each
-- class (a line) keeps the queue's order in K_CLASS_QUEUE (score class * 2^40 + key, see The order below).
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

-- The order. A waiter's key is when it joined (ms after QUEUE_BASE_MS) plus its priority class times the pool's age step
-- (0 incident, 1 high, 2 standard, 3 background): the queue serves the smallest key first. So a waiter goes before any
-- waiter of a lower class who joined less than (the classes' difference x age step) before it (strict priority across
-- classes), and every age step it waits it ranks as one of the class above who joins now (aging: one class up per age
-- step; a background waiter is overtaken only by those who joined less than 3 age steps after it). Within a class, keys
-- follow the join order strictly: each is above the class's last ('qlast:<priority>' in the epoch), so two joins of the
-- same millisecond keep their order. Keys are static: a position moves only when someone joins ahead, or leaves.
local QUEUE_BASE_MS = 1767225600000 -- 2026-01-01 UTC: keys stay below CLASS_SPAN (2^40 ms) until 2060
local PRIORITIES, STANDARD = 4, 2

local function queue_key(now, priority, age_step)
  local key = now - QUEUE_BASE_MS + priority * age_step
  local last = tonumber(redis.call('HGET', K_EPOCH, 'qlast:' .. priority) or '0')
  if key <= last then
    key = last + 1
  end
  redis.call('HSET', K_EPOCH, 'qlast:' .. priority, string.format('%d', key))
  return key
end

-- Puts the agent in the queue under key, and in its group's line.
local function enqueue(agent, group, key)
  if key < 0 or key >= CLASS_SPAN then
    error({err = 'LB_BAD_ARGUMENT queue key out of range'})
  end
  redis.call('ZADD', K_QUEUE, string.format('%d', key), agent)
  redis.call('ZADD', K_CLASS_QUEUE, string.format('%d', class_of(group, true) * CLASS_SPAN + key), agent)
end

-- A waiter's place as its ticket proved it (LeaseProofs.SignTicket signs key, priority, since and deadline into the ticket
-- it gives the app; the broker passes them here only from a ticket that verified for this agent and pool):
-- "key|priority|since|deadline", or '' for none. Returns the fields, or nil.
local function ticket_arg(text)
  if text == '' then
    return nil
  end
  local key, priority, since, deadline = string.match(text, '^(%d+)|(%d+)|(%d+)|(%d+)$')
  if not key then
    error({err = 'LB_BAD_ARGUMENT ticket must be key|priority|since|deadline'})
  end
  return {key = int_arg('ticket key', key, 0, CLASS_SPAN - 1), priority = int_arg('ticket priority', priority, 0, PRIORITIES - 1),
    since = int_arg('ticket since', since, 0, MAX_FENCE), deadline = int_arg('ticket deadline', deadline, 0, MAX_FENCE)}
end

-- Whether the agent lost its lease id (it expired: the app went away or its network did) while in an attended session
-- with a customer, as the lease's record kept the kind its app last reported: such a technician waits as an incident.
-- Once per lost lease (the tombstone is marked), so that one lost session does not buy priority for ever. The broker
-- passes only a lease id whose proof verified for this agent and device.
local function lost_in_session(id, agent)
  if id == '' then
    return false
  end
  local tomb = expiry_of(id, agent)
  if not tomb or tomb.kind ~= 'Attended' or tomb.queued then
    return false
  end
  tomb.queued = true
  redis.call('HSET', K_TOMB_DATA, id, cjson.encode(tomb))
  return true
end

-- Keeps a waiter alive until now + life, and never past its deadline (max wait): purge_waiters ends it then.
local function keep_waiting(agent, waiter, now, life)
  schedule(K_WAITER_LIFE, math.min(now + life, waiter.deadline or NEVER), agent)
end

-- About how long a waiter at position still waits (ms): that many releases at the recent rate (note_release, part 3),
-- less the time since the last one; nil until two releases were seen.
local function eta_ms(position, now)
  due_time()
  if REL_GAP <= 0 or position < 1 then
    return nil
  end
  return math.max(position * REL_GAP - math.max(now - REL_AT, 0), (position - 1) * REL_GAP, 0)
end

-- A waiter is gone from the queue: its place, its record and its life.
local function forget_waiter(agent)
  dequeue(agent)
  redis.call('HDEL', K_WAITERS, agent)
  redis.call('ZREM', K_WAITER_LIFE, agent)
  QUEUE_CHANGED = true
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
  forget_waiter(agent)
end

-- Ends a wait that an admin's change withdrew (leave_queue), and remembers why under the tombstone
-- 'w:<agent>' (lease ids never start so) for remember_ms, so that the agent's stream (wait_status) ends
-- with the reason: SEAT_WITHDRAWN (its shared seat was removed or switched, or the subscription ended) |
-- REVOKED (by).
local function end_wait(agent, waiter, reason, by, remember_ms)
  leave_queue(agent, waiter, 'force_released', by)
  remember_end('w:' .. agent, agent, reason, by, NOW, NOW + remember_ms)
end

-- A wait ends without a seat, each told in the audit log: the agent cancelled (wait_cancelled, wait_leave.lua), its max
-- wait passed (wait_timed_out: remembered as QUEUE_TIMEOUT so its stream says so), or its replica stopped refreshing it
-- (wait_abandoned: the app went away without a word, or its replica died and it did not come back in time).
local function time_out_wait(agent, waiter, at)
  leave_queue(agent, waiter, 'released', 'broker')
  event('wait_timed_out', '', agent, 'broker', nil, nil, at)
  remember_end('w:' .. agent, agent, 'QUEUE_TIMEOUT', 'broker', at, NOW + pool_ttl())
end

-- Ends up to max waits whose life passed: timed out at their deadline, or abandoned.
local function purge_waiters(now, max)
  local dead = redis.call('ZRANGEBYSCORE', K_WAITER_LIFE, '-inf', now, 'WITHSCORES', 'LIMIT', 0, max)
  for i = 1, #dead, 2 do
    local agent, waiter = dead[i], load_waiter(dead[i])
    if waiter and waiter.deadline and waiter.deadline <= now then
      time_out_wait(agent, waiter, waiter.deadline)
    else
      -- An offer it had stays until its claim window ends (the seat is not handed back twice).
      forget_waiter(agent)
      if waiter then
        event('wait_abandoned', '', agent, 'broker', nil, nil, tonumber(dead[i + 1]))
      end
    end
  end
  if #dead == 2 * max then
    BACKLOG = 1
  end
end

-- Drops up to max leases whose expiry is at or before now, and forgets up to max old tombstones.
-- Sets BACKLOG when more remain, so the broker has the janitor (PoolJanitor.cs) drain them.
local function purge(now, max)
  if now < due_time() then
    return
  end
  max = max or EXPIRED_PER_CALL
  purge_waiters(now, max)
  local expired = redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', now, 'WITHSCORES', 'LIMIT', 0, max)
  for i = 1, #expired, 2 do
    local id, lease = lease_of_member(expired[i])
    if lease then
      drop_lease(id, lease, 'expired', 'broker', tonumber(expired[i + 1]))
      remember_expiry(id, lease.agent, tonumber(expired[i + 1]), lease.kind)
    else
      redis.call('ZREM', K_LEASES, expired[i])
    end
  end
  local reclaimed = redis.call('ZRANGEBYSCORE', K_RECLAIM, '-inf', now, 'WITHSCORES', 'LIMIT', 0, max)
  for i = 1, #reclaimed, 2 do
    local id, lease = lease_of_member(reclaimed[i])
    if lease then
      reclaim(id, lease, tonumber(reclaimed[i + 1]))
    else
      redis.call('ZREM', K_RECLAIM, reclaimed[i])
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
    return -- 'due' stays in the past: the next call (or the janitor) goes on draining
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
