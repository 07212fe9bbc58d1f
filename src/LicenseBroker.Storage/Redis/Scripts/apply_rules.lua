-- apply_rules: an admin's (or an identity provider's) committed change reaches the live pool in the
-- same operation: the pool's limit and group rules, who counts in which group, who may still wait,
-- then admission runs again, so waiters the new rules admit get their seats with nobody else calling.
--
-- KEYS: the pool layout of library/01_call.lua.
-- @version the catalog version these rules were read at (accounts.catalog_version, read before the
--          rest of the policy): a call older than the pool's version changes nothing (two changes
--          applied out of order), and acquire / wait_join with older rules answer STALE (open_pool)
-- @limit concurrent seat limit
-- @rules the pool's group rules, as set_rules() reads them
-- @active 1 when the subscription is active, 0 when not: then nobody may wait any more
-- @by who made the change (recorded with the seats it takes back from waiters' unclaimed offers)
-- @remember_ms how long an ended wait's reason is remembered for its stream (ms)
-- @overage_mode the pool's overage: NONE | ALERT | BURST (see admission_limit in library/04_terms.lua)
-- @overage_seats the seats it allows beyond limit
-- @overage_caps the groups' overage caps, "group|max;..." (see overage_cap_reached in library/05_groups.lua)
-- @priorities the groups' priority classes in the queue, "group|priority;..." (0 incident .. 3 background; a group not
--   named, and no group, is 2, standard): a waiter whose class changed moves in the queue now (see The order in
--   library/07_queue.lua)
-- the rest (ARGV[@rest] on): pairs agent, group: every agent holding a shared (CONCURRENT) seat of the
--          product, with the group its seat counts in ('' for none)
-- Returns (payload):
--   status APPLIED, regrouped (holders whose seat moved to another group or out of one), ended (waits
--     ended), reclassed (waiters moved to another group's line or priority class), version
--   status OLDER, version: a later change was applied already
--   status NO_EPOCH: the pool is not live in this Redis (nothing to change; the next acquire opens it
--     with the rules it reads)
-- Work: bounded by the pool's own holders, waiters and the agents passed (an admin call, never the hot path).

local version = int_arg('version', @version, 0, MAX_FENCE)
local limit = int_arg('limit', @limit, 0, 1000000)
local active, by, remember = @active == '1', @by, int_arg('remember_ms', @remember_ms, 0, 86400000)
local priority_of = {}
for group, priority in string.gmatch(@priorities, '([^|;]+)|([^;]+)') do
  priority_of[group] = int_arg('priorities priority', priority, 0, PRIORITIES - 1)
end

local now = now_ms()
purge(now)
if not redis.call('HGET', K_EPOCH, 'recovering_until') then
  return finish({'status', 'NO_EPOCH'})
end
local stored = tonumber(redis.call('HGET', K_EPOCH, 'rules_version') or '0')
if version < stored then
  return finish({'status', 'OLDER', 'version', stored})
end

set_rules(@rules)
set_overage(@overage_mode, @overage_seats, limit, @overage_caps)
-- The stored terms are no broker's any more ('terms_id' matches no id): the next acquire or wait sends its own
-- (pool_terms in library/08_admission.lua).
redis.call('HSET', K_EPOCH, 'limit', limit, 'rules', @rules, 'rules_version', string.format('%d', version), 'ovg_mode', @overage_mode, 'ovg', overage().extra,
  'ovg_caps', @overage_caps, 'terms_id', '')
-- A new limit or allowance moves the pool's overage seats at once (none ends a session: holders keep their seats).
overage_moved('', '', by, now, seats_in_use(), limit)
-- How many changes were applied here: the only script that moves seats between groups' counts (a
-- newer acquire may have stored this version's rules already), for diagnostics and the race tests.
redis.call('HINCRBY', K_EPOCH, 'applied', 1)

-- Who has a shared seat now, and the group it counts in (only a group with a rule here counts).
local seat_of = {}
for i = @rest, #ARGV, 2 do
  local group = ARGV[i + 1] or ''
  if group ~= '' and not RULE_BY_ID[group] then
    group = ''
  end
  seat_of[ARGV[i]] = group
end

-- Holders: a seat counts in the group its holder belongs to now. Holders keep their seats (a stricter
-- rule admits nobody until under it); a holder whose group changed leaves the old group's counts first,
-- then joins the new one's, on its reserved seats while some are free.
local holders = shared_seat_holders()
local joining, regrouped = {}, 0
for _, agent in ipairs(holders) do
  local old = seat_group_of(agent) or ''
  local new = seat_of[agent] or ''
  if old ~= new then
    regrouped = regrouped + 1
    if old ~= '' then
      seat_freed(agent)
    end
    if new ~= '' then
      joining[#joining + 1] = agent
    end
  end
end
if #joining > 0 then
  local marked = {}
  for _, agent in ipairs(joining) do
    seat_taken(agent, seat_of[agent])
    marked[agent] = true
  end
  -- A seat counted in a group is uncounted by its last lease's end only when the lease is marked grp
  -- (drop_lease): leases granted while the pool had no rules are marked now.
  for _, found in ipairs(leases_of_agents(marked)) do
    local lease = found[2]
    if lease.seat == 'CONCURRENT' and lease.grp ~= '1' then
      lease.grp = '1'
      store_lease(found[1], lease)
    end
  end
end

-- A raised reservation covers members already holding a seat outside it first: their seats move onto
-- it, so the seats outside the reservations are not charged for members.
if #rules() > 0 then
  local counts = group_counts()
  for _, agent in ipairs(holders) do
    local group, charged = seat_group_of(agent)
    local rule = group and RULE_BY_ID[group]
    if rule and not charged and (counts.charged[group] or 0) < rule.reserved then
      count_group('charged', group, 1)
      redis.call('HSET', K_GROUPS, 'a:' .. agent, group .. '|1')
    end
  end
end

-- Waiters are held to the same rules as holders: one who may no longer take a shared seat stops
-- waiting now, with the reason; one whose group changed waits in its new group's line, keeping its
-- place in join order, and one whose priority class changed takes the place its new class gives.
local ended, reclassed = 0, 0
local waiters = redis.call('HGETALL', K_WAITERS)
for i = 1, #waiters, 2 do
  local agent, waiter = waiters[i], cjson.decode(waiters[i + 1])
  local group = seat_of[agent]
  if not active or group == nil then
    end_wait(agent, waiter, 'SEAT_WITHDRAWN', by, remember)
    ended = ended + 1
  elseif not waiter.offer and (group ~= (waiter.group or '') or (waiter.key and (priority_of[group] or STANDARD) ~= waiter.prio)) then
    local key = tonumber(redis.call('ZSCORE', K_QUEUE, agent))
    if key and waiter.key then
      -- Its class changed: the same start, the new class's offset (one age step per class).
      local priority = priority_of[group] or STANDARD
      key = math.max(key + (priority - waiter.prio) * (waiter.step or 0), 0)
      waiter.key, waiter.prio = key, priority
      redis.call('ZADD', K_QUEUE, string.format('%d', key), agent)
    end
    if key then
      redis.call('ZADD', K_CLASS_QUEUE, string.format('%d', class_of(group, true) * CLASS_SPAN + key), agent)
    end
    waiter.group = group
    redis.call('HSET', K_WAITERS, agent, cjson.encode(waiter))
    reclassed = reclassed + 1
    QUEUE_CHANGED = true
  end
end

-- Admission again, under the new rules: every waiter who may now take a free seat is offered one.
GROUP_COUNTS = nil
promote(now)
return finish({'status', 'APPLIED', 'regrouped', regrouped, 'ended', ended, 'reclassed', reclassed, 'version', version})
