-- sweep: drops a batch of the pool's expired leases, waiters and tombstones (the janitor's call, PoolJanitor.cs).
-- Every other script drops at most EXPIRED_PER_CALL expired leases; after a mass expiry (a
-- network blip, a fleet outage longer than the TTL) the broker runs this in bounded batches
-- until the backlog is gone. Each lease is dropped, and reported, by exactly one call: running
-- it from several replicas at once audits nothing twice.
--
-- KEYS: the pool layout of library/01_call.lua.
-- @batch batch: at most this many leases (and waiters, and tombstones) dropped
-- Records a seat event (expired) per lease dropped.
-- The janitor runs it for both: pools with a backlog and pools whose reclaim deadline came (see ReclaimIndex.cs).
-- Returns (payload): next_reclaim_ms, the pool's earliest
-- reclaim deadline left (0: none); backlog (see library/01_call.lua) says whether to call again.

local batch = int_arg('batch', @batch, 1, 10000)
local now = now_ms()
purge(now, batch)
local first = redis.call('ZRANGE', K_RECLAIM, 0, 0, 'WITHSCORES')
return finish({'next_reclaim_ms', tonumber(first[2] or '0')})
