-- sessions: one page of the pool's live shared (CONCURRENT) leases: classic ones in start order, then compact ones in
-- grant (fence) order (see "Two layouts" in library/01_call.lua).
--
-- KEYS: the pool layout of library/01_call.lua.
-- @cursor cursor: '' for the first page, else the previous page's next_cursor: a classic lease's index member, or
--   '#' and the fence of the last compact lease listed
-- @size page size
-- Returns (payload):
--   total (live shared leases), in_use, next_cursor ('' on the last page),
--   columns (LEASE_COLUMNS), leases: the page, one row each as describe() in library/09_views.lua
-- The cursor is a position, not an offset: leases that start or end between pages neither shift nor repeat the
-- others. Work per page: the page's leases, and at most one bucket of 64 compact records per lease listed.

local cursor, size = @cursor, int_arg('size', @size, 1, 1000)

local now = now_ms()
purge(now)

-- Rows as {cursor, id, lease}, up to size + 1 of them (one more tells that a next page exists).
local rows = {}
local after_fence = -1
if string.sub(cursor, 1, 1) == '#' then
  -- Cursors are the broker's, inside a page token a client could change: one that names no fence lists nothing more
  -- (as a classic cursor past the last member does), never an error.
  local fence = string.match(cursor, '^#(%d+)$')
  after_fence = fence and #fence <= 16 and tonumber(fence) or MAX_FENCE
else
  local from = '-'
  if cursor ~= '' then
    from = '(' .. cursor
  end
  for _, member in ipairs(redis.call('ZRANGEBYLEX', K_SHARED, from, '+', 'LIMIT', 0, size + 1)) do
    local id = string.sub(member, 17)
    local lease = load_lease(id)
    if lease then
      rows[#rows + 1] = {member, id, lease}
    end
  end
end

-- Compact leases: the non-empty shared buckets from the cursor's on, each read whole (at most 64 records), in fence order.
local first_bucket = math.floor(math.max(after_fence, 0) / RECORD_BUCKET)
local buckets = #rows <= size and redis.call('ZRANGEBYSCORE', TAG .. ':rc', first_bucket, '+inf', 'LIMIT', 0, size + 2 - #rows) or {}
for _, bucket in ipairs(buckets) do
  if #rows > size then
    break
  end
  local fields = redis.call('HGETALL', bucket_key('c', bucket))
  local in_bucket = {}
  for i = 1, #fields, 2 do
    local fence = tonumber(fields[i])
    if fence > after_fence then
      in_bucket[#in_bucket + 1] = {fence, decode_lease(fields[i + 1], fence)}
    end
  end
  table.sort(in_bucket, function(a, b) return a[1] < b[1] end)
  for _, entry in ipairs(in_bucket) do
    local fence = string.format('%d', entry[1])
    rows[#rows + 1] = {'#' .. fence, compact_id('c', fence, entry[2].secret or ''), entry[2]}
    if #rows > size then
      break
    end
  end
end

local next_cursor = ''
if #rows > size then
  next_cursor = rows[size][1]
end
local page = {}
for i = 1, math.min(#rows, size) do
  page[i] = describe(rows[i][2], rows[i][3])
end
local total = redis.call('ZCARD', K_SHARED) + tonumber(redis.call('HGET', K_EPOCH, 'shared') or '0')
return finish({'total', total, 'in_use', seats_in_use(), 'next_cursor', next_cursor,
  'columns', LEASE_COLUMNS, 'leases', page})
