-- The pool library, part 8 of 10: admission. Owns who may take a shared seat now (may_take_now), why not (refusal_of),
-- the queue's promotions, the abuse limits (rate_limited) and the start of the scripts that admit (open_admission,
-- open_pool). No per-call state.

-- Why seat_open said no to an agent of group, for the refusal it is told: FULL (every seat taken, or the
-- free ones are being handed to waiters ahead), GROUP_CAP (its group holds its cap: group, cap), or RESERVED
-- (the free seats are kept for other groups: their ids, joined by ',').
local function refusal_of(group, in_use, limit)
  if in_use >= limit or #rules() == 0 then
    return 'FULL', '', -1
  end
  local capped, overage_cap = overage_cap_reached(group, in_use)
  if capped then
    return 'OVERAGE_CAP', group, overage_cap
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

-- Who may take a shared seat now: the one rule, asked by every path that gives one (acquire and wait_join for a
-- newcomer, promote for the queue's waiters, heartbeat for a holder re-establishing a lease Redis forgot):
--   * an agent who already holds a shared seat (another device) takes no second one: yes, on the seat it holds;
--   * a newcomer waits out the recovery window after a loss of data (part 3): holders come back first;
--   * a seat must be open to the agent's group (seat_open: the limit, with the overage allowance where it applies
--     (admission_limit, part 3), the group's cap, the reservations of other groups; a lower limit or cap keeps its
--     holders and admits nobody until under it);
--   * a newcomer does not jump ahead of a waiter who may take the same seat, even one free a moment before it is
--     offered: without group rules, any waiter; with them, a waiter of a class that may take a seat now, or one of
--     the newcomer's own class (nobody overtakes within a class). A waiter who may not take a seat never blocks.
-- A waiter (promote picks the earliest who may; it holds no seat) and a returning holder are not behind the queue.
-- as: 'newcomer' | 'waiter' | 'holder'; recovering_until: the end of the recovery window (newcomers only);
-- in_use: the shared seats in use, when the caller has them. Returns YES, RECOVERING or NO, and the seats in use.
local next_waiter
local function may_take_now(agent, group, limit, as, recovering_until, in_use)
  in_use = in_use or seats_in_use()
  if as ~= 'waiter' and held_by(agent) > 0 then
    return 'YES', in_use
  end
  if as == 'newcomer' and NOW < recovering_until then
    return 'RECOVERING', in_use
  end
  if not seat_open(group, in_use, admission_limit(limit, as)) or overage_cap_reached(group, in_use) then
    return 'NO', in_use
  end
  if as ~= 'newcomer' or redis.call('ZCARD', K_QUEUE) == 0 then
    return 'YES', in_use
  end
  if #rules() == 0 or next_waiter(in_use, limit) ~= nil or class_head(class_of(group, false) or -1) ~= nil then
    return 'NO', in_use
  end
  return 'YES', in_use
end

-- The earliest waiter who may take a shared seat now, with in_use of limit taken: the head of the
-- queue, or with group rules the earliest head among the classes whose members may take one (a
-- waiter who may not take the seat does not block one who may; within a class, nobody overtakes).
-- Work is bounded by the number of classes, not by the queue.
next_waiter = function(in_use, limit)
  if #rules() == 0 then
    if may_take_now(nil, '', limit, 'waiter', nil, in_use) == 'NO' then
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
    -- The class's members may take a seat (the rule does not depend on which member: waiters hold none).
    if group and may_take_now(nil, group, limit, 'waiter', nil, in_use) == 'YES' then
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
  if redis.call('ZCARD', K_QUEUE) == 0 or recovering(now) then
    return -- in the recovery window, holders come back first (their count is not known yet); the window's end promotes
  end
  local fields = redis.call('HMGET', K_EPOCH, 'limit', 'claim', 'rules')
  local limit, claim = tonumber(fields[1] or '0'), tonumber(fields[2] or '10000')
  if RULES == nil then
    set_rules(fields[3] or '')
  end
  while true do
    local head = next_waiter(seats_in_use(), limit)
    if not head then
      break
    end
    dequeue(head)
    local waiter = load_waiter(head)
    local _, _, _, id = grant(waiter.offer_id, head, waiter.session, 'CONCURRENT', waiter.device, waiter.platform, waiter.kind, now + claim, nil,
      waiter.group or '', waiter.compact)
    waiter.offer = id
    redis.call('HSET', K_WAITERS, head, cjson.encode(waiter))
    QUEUE_CHANGED = true
  end
end

-- The pool's terms, in SETTINGS_FIELDS order (part 3) without the last: those the broker sent (sent, a list), or,
-- when it sent none, the ones stored when they are those of terms_id (the broker's id of the terms it holds,
-- PoolTerms in LuaScripts.cs; open_pool stores it with them). The settings are sent only when a replica does not know
-- the pool has them: twelve arguments fewer on every other acquire and wait. Sets the idle rules, revive window,
-- outage grace and overage from them, and returns them with the limit, claim window and lease ttl; nil when the
-- broker must send them (the caller answers TERMS): the pool never had them, lost them, or has others.
local function pool_terms(sent, terms_id)
  local count, terms = #SETTINGS_FIELDS - 1, sent
  if #sent > 0 and #sent ~= count then
    error({err = 'LB_BAD_ARGUMENT terms must be ' .. count .. ' values'})
  elseif #sent == 0 then
    due_time() -- the first read of the epoch, which brings the stored settings (want_settings)
    terms = stored_settings()
    if terms[count + 1] ~= terms_id then
      return nil
    end
  end
  local limit, claim, ttl = int_arg('limit', terms[1], 0, 1000000), int_arg('claim_ms', terms[2], 1, 86400000), int_arg('ttl_ms', terms[3], 1000, 86400000)
  set_idle_rules(terms[4], terms[5])
  set_recovery(terms[8], terms[9])
  set_overage(terms[10], terms[11], limit, terms[12])
  return terms, limit, claim, ttl
end

-- Start of the scripts that admit (acquire, wait_join): checks the epoch, then records the pool's
-- limit, claim window, lease ttl, idle rules, revive window and outage grace (set_recovery) and group rules (rules_text,
-- as set_rules() reads it)
-- for the scripts that free seats or reclaim them. version is the catalog version the caller's rules
-- were read at (see apply_rules.lua): a caller whose rules are older than the pool's changes nothing
-- and must reload them, so no grant uses rules older than the last change an admin committed.
-- outage_from, outage_to: the last time no broker could reach this Redis (0 0: none known). holder_entries: '1' when
-- every replica reads holders counted in their entries ("Shared seats in use" in part 5), '0' when not. terms_id:
-- the broker's id of these settings (pool_terms above), stored with them.
-- Returns the end of the recovery window, or nil when the caller must answer NO_EPOCH; and, when the
-- caller's rules are older than the pool's, the pool's version (the caller answers STALE).
local RETURN_MS = 10000 -- the least time apps get to come back after an outage (see open_pool)
local function open_pool(now, ttl, mode, evidence, limit, claim, rules_text, version, outage_from, outage_to, holder_entries, terms_id)
  version = int_arg('rules_version', version, 0, MAX_FENCE)
  outage_from, outage_to = int_arg('outage_from_ms', outage_from, 0, MAX_FENCE), int_arg('outage_to_ms', outage_to, 0, MAX_FENCE)
  set_rules(rules_text)
  local recovering_until = check_epoch(mode, now, ttl, evidence)
  local returning = math.max(ttl, RETURN_MS)
  if recovering_until and outage_to - outage_from > ttl / 2 and now < outage_to + returning then
    -- Just after an outage long enough for leases to expire: their apps come back within one ttl, and at least
    -- RETURN_MS (reconnecting takes its time whatever the ttl); heartbeat.lua revives them as holders. Newcomers wait
    -- until then, as after a loss of data, so that none takes a returning seat.
    recovering_until = math.max(recovering_until, outage_to + returning)
  end
  if recovering_until then
    -- Written only when one of them changed: a read, where a write went to the AOF and the replicas on every acquire.
    local revive_ms, grace_ms = recovery()
    local o = overage()
    local values = {limit, claim, ttl, PENDING_MS, IDLE_MS, rules_text, string.format('%d', version), revive_ms, grace_ms, o.mode, o.extra, o.caps_text, terms_id}
    local stored = stored_settings()
    local stored_version = tonumber(stored[7] or '0')
    if version < stored_version then
      return recovering_until, stored_version
    end
    if holder_entries ~= '1' then
      set_holders_mode(nil)
    elseif not holders_in_entries() then
      set_holders_mode(hash_holders() == 0 and 'only' or 'entries')
    end
    for i = 1, #values do
      if stored[i] ~= tostring(values[i]) then
        redis.call('HSET', K_EPOCH, 'limit', limit, 'claim', claim, 'ttl', ttl, 'pending_ms', PENDING_MS, 'idle_ms', IDLE_MS, 'rules', rules_text,
          'rules_version', values[7], 'revive_ms', revive_ms, 'grace_ms', grace_ms, 'ovg_mode', o.mode, 'ovg', o.extra, 'ovg_caps', o.caps_text,
          'terms_id', terms_id)
        break
      end
    end
  end
  return recovering_until, nil
end

-- The start of acquire and wait_join after their own arguments: the pool's terms (pool_terms), the purge, the epoch and
-- the terms stored (open_pool). sent, terms_id: as pool_terms takes them; the others as open_pool. Returns
-- {now, limit, ttl, recovering_until}, or nil and the reply the script ends with: TERMS, NO_EPOCH or STALE.
local function open_admission(sent, terms_id, mode, evidence, outage_from, outage_to, holder_entries)
  want_settings() -- the pool's stored terms come with the first read of the epoch
  local now = now_ms()
  local terms, limit, claim, ttl = pool_terms(sent, terms_id)
  if not terms then
    return nil, {'status', 'TERMS'}
  end
  purge(now)
  local recovering_until, newer_rules = open_pool(now, ttl, mode, evidence, limit, claim, terms[6], terms[7], outage_from, outage_to, holder_entries, terms_id)
  if not recovering_until then
    return nil, {'status', 'NO_EPOCH'}
  end
  if newer_rules then
    return nil, {'status', 'STALE', 'version', newer_rules}
  end
  return {now = now, limit = limit, ttl = ttl, recovering_until = recovering_until}
end
