-- usage: the pool's live numbers for the Seats & Devices page.
--
-- KEYS: the pool layout of library/01_call.lua.
-- Returns (payload):
--   in_use (shared seats), peak, refused and reclaimed (today's: seats taken back from PENDING or
--   idle sessions), live (leases of any seat type), waiting,
--   group_columns, groups: per group rule the pool last admitted with (see Groups in library/05_groups.lua),
--   its members holding a shared seat, of them on its reserved seats, and its members waiting,
--   recovering_until_ms: the end of the pool's recovery window after a loss of data (library/03_epoch.lua), 0 when none,
--   overage_seats: the shared seats in use beyond the purchased ones (overage_moved in library/04_terms.lua)

local now = now_ms()
purge(now)
local recovering_until = tonumber(RECOVERING_UNTIL or '0') or 0
due_time()
local groups = {}
local counts = group_counts()
for _, r in ipairs(rules()) do
  local waiting = 0
  local idx = class_of(r.id, false)
  if idx then
    waiting = redis.call('ZCOUNT', K_CLASS_QUEUE, class_range(idx))
  end
  groups[#groups + 1] = {r.id, counts.held[r.id] or 0, counts.charged[r.id] or 0, waiting}
end
return finish({
  'group_columns', {'group', 'held', 'reserved_in_use', 'waiting'},
  'groups', groups,
  'in_use', seats_in_use(),
  'peak', tonumber(redis.call('HGET', K_STATS, stats_field(now, 'peak')) or '0'),
  'refused', tonumber(redis.call('HGET', K_STATS, stats_field(now, 'refused')) or '0'),
  'reclaimed', tonumber(redis.call('HGET', K_STATS, stats_field(now, 'reclaimed')) or '0'),
  'live', redis.call('ZCARD', K_LEASES),
  'waiting', redis.call('ZCARD', K_QUEUE),
  'recovering_until_ms', recovering_until > now and recovering_until or 0,
  'overage_seats', EPOCH_OVERAGE.count,
})
