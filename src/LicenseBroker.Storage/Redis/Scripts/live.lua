-- live: how many live leases each of some agents holds in the pool (expired ones dropped first).
--
-- KEYS: the pool layout of library/01_call.lua.
-- the rest (ARGV[@rest] on): agent ids
-- Returns (payload):
--   counts: live leases of each agent, in the order given

local now = now_ms()
purge(now)

local counts = {}
for i = @rest, #ARGV do
  counts[#counts + 1] = agent_leases(ARGV[i])
end
return finish({'counts', counts})
