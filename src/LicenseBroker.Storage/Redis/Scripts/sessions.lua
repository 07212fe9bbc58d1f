-- sessions: one page of the pool's live shared (CONCURRENT) leases, in start order.
--
-- KEYS: the pool layout of library/01_call.lua.
-- @cursor cursor: the last index member of the previous page, or '' for the first page
-- @size page size
-- Returns (payload):
--   total (live shared leases), in_use, next_cursor ('' on the last page),
--   columns (LEASE_COLUMNS), leases: the page, one row each as describe() in library/08_views.lua
-- The cursor is a position in the index, not an offset: leases that start or end between
-- pages neither shift nor repeat the others.

local cursor, size = @cursor, int_arg('size', @size, 1, 1000)

local now = now_ms()
purge(now)

local from = '-'
if cursor ~= '' then
  from = '(' .. cursor
end
local members = redis.call('ZRANGEBYLEX', K_SHARED, from, '+', 'LIMIT', 0, size + 1)
local next_cursor = ''
if #members > size then
  next_cursor = members[size]
end

local page = {}
for i = 1, math.min(#members, size) do
  local id = string.sub(members[i], 17)
  local lease = load_lease(id)
  if lease then
    table.insert(page, describe(id, lease))
  end
end
return finish({'total', redis.call('ZCARD', K_SHARED), 'in_use', redis.call('HLEN', K_HOLDERS), 'next_cursor', next_cursor,
  'columns', LEASE_COLUMNS, 'leases', page})
