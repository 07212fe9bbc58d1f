-- agent_sessions: the live leases of one agent in the pool, in both layouts: what a change to its seat would end
-- (AssignSeat and UnassignSeat with validate_only).
--
-- KEYS: the pool layout of library/01_call.lua.
-- @agent agent id
-- Returns (payload):
--   columns (LEASE_COLUMNS), leases: one row per live lease of the agent, as describe() in library/09_views.lua
-- Work: the agent's own leases (leases_of_agents in library/09_views.lua).

local agent = @agent
local now = now_ms()
purge(now)

local rows = {}
for _, found in ipairs(leases_of_agents({[agent] = true})) do
  rows[#rows + 1] = describe(found[1], found[2])
end
-- Oldest first (started_ms), then by lease id: the same order on every call.
table.sort(rows, function(a, b) return a[7] < b[7] or (a[7] == b[7] and a[1] < b[1]) end)
return finish({'columns', LEASE_COLUMNS, 'leases', rows})
