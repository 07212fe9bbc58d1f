-- The pool library, part 10 of 10: the end of every call. Owns the seat-event journal (KEYS[19]) and the reply.

-- Appends this call's seat events to the pool's stream (KEYS[19]) as one entry, numbered from the next of
-- the pool's sequence, one each: in the same atomic step as the changes they describe, so a broker that dies
-- after the call, or a PostgreSQL that is away, loses none. One entry a call, not one an event: a sweep of
-- thousands of expiries stays one XADD and one JSON encoding. The sequence only grows, also across a loss of
-- the epoch: it never falls below Redis's clock in microseconds (ms * 1000, below 2^53 until the year 2255).
-- Returns the first number given (0: no events). The epoch fields the call counted (its events' sequence, the live
-- compact shared leases of count_shared(), the copy of the fencing counter of note_fence(), the release rate of
-- note_release()) are written here, in one
-- HSET.
local function journal()
  local epoch = {}
  if SHARED_DELTA ~= 0 then
    epoch = {'shared', string.format('%d', EPOCH_SHARED + SHARED_DELTA)}
  end
  if FENCE_NOTED then
    epoch[#epoch + 1], epoch[#epoch + 2] = 'fence', string.format('%d', FENCE_NOTED)
  end
  if RELEASE_NOTED then
    epoch[#epoch + 1], epoch[#epoch + 2] = 'rel_at', string.format('%d', REL_AT)
    epoch[#epoch + 1], epoch[#epoch + 2] = 'rel_gap', string.format('%d', REL_GAP)
  end
  local first = 0
  if #EVENTS > 0 then
    due_time()
    first = math.max(EVSEQ + 1, NOW * 1000)
    EVSEQ = first + #EVENTS / EVENT_FIELDS - 1
    redis.call('XADD', K_EVENTS, '*', 'seq', string.format('%d', first), 'e', cjson.encode(EVENTS))
    epoch[#epoch + 1], epoch[#epoch + 2] = 'evseq', string.format('%d', EVSEQ)
  end
  if #epoch > 0 then
    redis.call('HSET', K_EPOCH, unpack(epoch))
  end
  return first
end

-- Every script ends here: seats freed by this call go to waiters first, and replicas holding
-- waiters' streams are told the queue moved; the call's seat events go to the pool's stream.
local function finish(payload)
  if SEAT_FREED then
    promote(NOW)
  end
  if QUEUE_CHANGED then
    redis.call('PUBLISH', CHANNEL, 'queue')
  end
  local first_seq = journal()
  return {'payload', payload, 'events', EVENTS, 'first_seq', first_seq, 'backlog', BACKLOG, 'reclaim_due', RECLAIM_DUE}
end
