-- The pool library, part 9 of 10: views. Owns how a waiter's place and a lease are reported, and how an agent's live
-- leases are found (by session: live_lease_of; all of them: leases_of_agents). No per-call state.

-- A waiter's place (wait_join, wait_status): position, seats in use, waiting, and why it waits, as refusal_of
-- says for its group (so the queue says what a refusal would); its priority class, the estimate of its wait (eta_ms,
-- -1: not known yet), the time left before its max wait ends it (deadline_in_ms, -1: none), and its key, start and
-- deadline (ms), which the broker signs into the app's queue ticket.
local function queued(agent, waiter, limit, now)
  local in_use = seats_in_use()
  local rank = redis.call('ZRANK', K_QUEUE, agent)
  local position = rank and rank + 1 or 0
  local why, about, cap = refusal_of(waiter.group or '', in_use, limit)
  return {'status', 'QUEUED', 'position', position, 'in_use', in_use, 'waiting', redis.call('ZCARD', K_QUEUE),
    'why', why, 'about', about, 'cap', cap, 'priority', waiter.prio or STANDARD, 'eta_ms', eta_ms(position, now) or -1,
    'deadline_in_ms', waiter.deadline and math.max(waiter.deadline - now, 0) or -1, 'key', waiter.key or 0, 'since_ms', waiter.since or now,
    'deadline_ms', waiter.deadline or 0}
end

-- The fields ListSharedSessions and ForceRelease report for a lease.
-- Lists of leases are tables: the column names once (LEASE_COLUMNS), then one row per lease in that
-- order, read by column name in C# (ScriptReply.Rows): as named as a record, without repeating nine
-- names for each of a page's hundred leases.
-- seat_group: the group the agent's shared seat counts in ('' for none); reserved: 1 when on its reserved seats;
-- overage: 1 when the agent's shared seat was granted beyond the purchased ones (mark_overage_seat in part 5).
local LEASE_COLUMNS = {'lease_id', 'agent', 'session', 'device', 'platform', 'kind', 'started_ms', 'beat_ms', 'expires_ms', 'seat_group', 'reserved', 'overage'}
-- When the lease's app last renewed it: a heartbeat that changes nothing else only moves the expiry
-- (heartbeat.lua), so the record's beat is the last renewal that rewrote it, and expiry - ttl the latest.
local function beat_of(lease, expires)
  if expires and expires - pool_ttl() > lease.beat then -- a short record's beat is its start (part 2)
    return expires - pool_ttl()
  end
  return lease.beat
end

local function describe(id, lease)
  local group, reserved, over = '', 0, 0
  if lease.seat == 'CONCURRENT' then
    local g, charged = seat_group_of(lease.agent)
    if g then
      group, reserved = g, charged and 1 or 0
    end
    over = on_overage_seat(lease.agent) and 1 or 0
  end
  local expires = tonumber(redis.call('ZSCORE', K_LEASES, lease_member(id)))
  return {id, lease.agent, lease.session, lease.device, lease.platform, lease.kind,
    lease.started, beat_of(lease, expires), expires, group, reserved, over}
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
