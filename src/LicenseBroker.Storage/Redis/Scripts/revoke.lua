-- revoke: an admin ends live leases, chosen by agent or by lease id; their seats free at once.
--
-- KEYS: the pool layout of library/01_call.lua.
-- @by who ends them (recorded, and told to the evicted app on its next heartbeat)
-- @remember_ms how long the revocation is remembered (ms)
-- @ids_are AGENTS | LEASES: what the remaining arguments are
-- @why the admin's change that ends them: SESSION_ENDED (ended as such) | SEAT_CHANGED | SEAT_REMOVED | AGENT_REMOVED,
--   told to the evicted app with REVOKED
-- the rest (ARGV[@rest] on): agent ids or lease ids
-- Returns (payload):
--   columns (LEASE_COLUMNS), ended: one row per lease ended, as describe() in library/09_views.lua
-- By agent, the agents' waits for a shared seat end too (their streams hear REVOKED).
-- Leases already ended are not returned again: calling twice is harmless.

local by, remember, mode, why = @by, int_arg('remember_ms', @remember_ms, 0, 86400000), @ids_are, @why
if why ~= 'SESSION_ENDED' and why ~= 'SEAT_CHANGED' and why ~= 'SEAT_REMOVED' and why ~= 'AGENT_REMOVED' then
  error({err = 'LB_BAD_ARGUMENT why must be SESSION_ENDED, SEAT_CHANGED, SEAT_REMOVED or AGENT_REMOVED'})
end

local now = now_ms()
purge(now)

local ended = {}
local function revoke(id, lease)
  table.insert(ended, describe(id, lease))
  drop_lease(id, lease, 'force_released', by)
  remember_end(id, lease.agent, 'REVOKED', by, now, now + remember, nil, why)
  -- Tells the evicted app at once, through any replica that watches the lease.
  redis.call('PUBLISH', CHANNEL, 'revoked ' .. id .. ' ' .. by .. ' ' .. now)
end

if mode == 'LEASES' then
  for i = @rest, #ARGV do
    local lease = load_lease(ARGV[i])
    if lease then
      revoke(ARGV[i], lease)
    end
  end
else
  local wanted = {}
  for i = @rest, #ARGV do
    wanted[ARGV[i]] = true
  end
  for _, found in ipairs(leases_of_agents(wanted)) do
    revoke(found[1], found[2])
  end
  -- Waiters are held to the same rules as holders: an agent whose leases end stops waiting too.
  for agent in pairs(wanted) do
    local waiter = load_waiter(agent)
    if waiter then
      end_wait(agent, waiter, 'REVOKED', by, remember)
    end
  end
end
return finish({'columns', LEASE_COLUMNS, 'ended', ended})
