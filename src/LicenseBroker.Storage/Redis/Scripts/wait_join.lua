-- wait_join: an agent asks to wait for a shared seat; granted at once when nobody is ahead and a seat is free.
--
-- KEYS: the pool layout of library/01_call.lua.
-- @agent agent id
-- @session session id
-- @lease_id a new random lease id ('ls_' ...), for a grant now or for the offer later (see grant in library/06_leases.lua)
-- @compact the lease is 0: classic, 1: compact, 2: compact with a short record (new_lease_layout in library/06_leases.lua);
--   an offer keeps the choice
-- @seat seat type: NAMED | CONCURRENT | UNLIMITED
-- @device device id
-- @platform platform
-- @kind session kind
-- @epoch_mode pool mode for the epoch check
-- @evidence evidence (see library/03_epoch.lua)
-- @waiter_life_ms how long the waiter lives without a refresh (ms)
-- @terms_id the broker's id of the pool's terms (limit, claim window, lease ttl, idle rules, group rules and their
--   version, revive window, outage grace, overage): the rest (ARGV[@rest] on) are those terms, in the order of
--   SETTINGS_FIELDS in library/03_epoch.lua, when the broker does not know the pool has them; none when it does (see
--   pool_terms in library/08_admission.lua)
-- @group the agent's group in this pool ('' for none; see Groups in library/05_groups.lua)
-- @outage_from_ms the start of the last time no broker could reach this Redis (OutageWatch.cs; 0: none known)
-- @outage_to_ms its end (0: none known): newcomers wait one ttl after an outage (open_pool)
-- @holder_entries 1 when every replica reads holders counted in their agents' entries (library/05_groups.lua), else 0
-- @priority the agent's priority class in this pool, 0 (incident) .. 3 (background), from its group's rule
-- @age_step_ms the pool's age step (ms): a waiter moves one class up per step (see The order in library/07_queue.lua)
-- @max_queue at most this many waiters in the pool; a join beyond gets QUEUE_FULL
-- @max_wait_ms a wait ends (QUEUE_TIMEOUT) this long after it began
-- @ticket the place a verified queue ticket proves, "key|priority|since|deadline", or '' (see ticket_arg): used only
--   while the pool recovers from a loss of data, to give a waiter back its place
-- @restore_only 1: only give back a place by @ticket (the broker's own re-join of a wait Redis forgot); otherwise GONE
-- @lost_lease the id of a lease of this agent that expired, whose proof the broker verified, or '': lost while in an
--   attended session, its agent waits as an incident (see lost_in_session in library/07_queue.lua)
-- Records a seat event: granted, or queued when the agent joins the queue.
-- Returns (payload):
--   status GRANTED, lease_id, expires_ms, fence, seat
--   status QUEUED, position (1 = next; 0 = a seat is being offered), in_use, waiting, why, about, cap, priority, eta_ms,
--     deadline_in_ms, key, since_ms,
--     deadline_ms (see queued() in library/09_views.lua)
--   status QUEUE_FULL, waiting, max, in_use: the queue holds max_queue waiters; nothing changed
--   status RECOVERING, retry_ms | status NO_EPOCH | status GONE (restore_only, and no place to give back)
--   status STALE, version: the caller's rules are older than the pool's; reload them (at least version) and call again
--   status TERMS: the broker sent no terms and the pool does not have those of @terms_id: call again with them

local agent, session, id, seat = @agent, @session, @lease_id, @seat
local priority, age_step = int_arg('priority', @priority, 0, PRIORITIES - 1), int_arg('age_step_ms', @age_step_ms, 1000, 86400000)
local max_queue, max_wait = int_arg('max_queue', @max_queue, 1, 1000000), int_arg('max_wait_ms', @max_wait_ms, 1000, 86400000)
local ticket, restore_only = ticket_arg(@ticket), @restore_only == '1'
local waiter_life = int_arg('waiter_life_ms', @waiter_life_ms, 1, 86400000)

local opened, ending = open_admission({unpack(ARGV, @rest)}, @terms_id, @epoch_mode, @evidence, @outage_from_ms, @outage_to_ms, @holder_entries)
if not opened then
  return finish(ending)
end
local now, limit, ttl, recovering_until = opened.now, opened.limit, opened.ttl, opened.recovering_until
local group = @group

local compact = new_lease_layout(@compact)
local function grant_now()
  local fence, _, _, lease_id = grant(id, agent, session, seat, @device, @platform, @kind, now + ttl, nil, group, compact)
  return finish({'status', 'GRANTED', 'lease_id', lease_id, 'expires_ms', now + ttl, 'fence', fence, 'seat', seat})
end

local waiter = load_waiter(agent)
if not waiter then
  -- Named and unlimited seats never queue; a shared seat is granted now when acquire would grant it.
  local verdict = seat == 'CONCURRENT' and may_take_now(agent, group, limit, 'newcomer', recovering_until) or 'YES'
  local restoring = verdict == 'RECOVERING' and ticket ~= nil and ticket.deadline > now
  if restore_only and not restoring then
    return finish({'status', 'GONE'})
  end
  if verdict == 'YES' then
    return grant_now()
  end
  if verdict == 'RECOVERING' and not restoring then
    return finish({'status', 'RECOVERING', 'retry_ms', recovering_until - now})
  end
  waiter = {session = session, device = @device, platform = @platform, kind = @kind, offer_id = id, compact = compact or nil, group = group}
  if restoring then
    -- Redis lost the queue: the waiter's ticket gives back its place (key, class, start, deadline), as its lease
    -- proof gives back a holder's seat. Newcomers wait out the window, and the queue hands out nothing before its end.
    waiter.key, waiter.prio, waiter.since, waiter.deadline = ticket.key, ticket.priority, ticket.since, ticket.deadline
  else
    local waiting = redis.call('ZCARD', K_QUEUE)
    if waiting >= max_queue then
      return finish({'status', 'QUEUE_FULL', 'waiting', waiting, 'max', max_queue, 'in_use', seats_in_use()})
    end
    if lost_in_session(@lost_lease, agent) then
      priority = 0
    end
    waiter.key, waiter.prio, waiter.since, waiter.deadline = queue_key(now, priority, age_step), priority, now, now + max_wait
  end
  waiter.step = age_step
  enqueue(agent, group, waiter.key)
  redis.call('HSET', K_WAITERS, agent, cjson.encode(waiter))
  -- A wait ended by an earlier change is forgotten: this wait's stream must not report it.
  redis.call('HDEL', K_TOMB_DATA, 'w:' .. agent)
  if not restoring then
    event('queued', '', agent, agent)
  end
  QUEUE_CHANGED = true
end
keep_waiting(agent, waiter, now, waiter_life)
promote(now)

-- Position 0: offered right away (a seat was free); the status call claims it.
return finish(queued(agent, waiter, limit, now))
