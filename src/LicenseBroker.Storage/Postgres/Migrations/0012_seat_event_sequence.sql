-- 0012: seat events carry their pool's sequence (the order of the changes, given by the pool script that
-- made them; see prelude.lua, KEYS[19]). They reach this table from the pool's journal in Redis, possibly
-- twice (a replica that stored a batch and died before deleting it, two replicas draining one pool): the
-- unique index makes the second write a no-op. Admin rows (seat.assign, ...) have no sequence.
ALTER TABLE audit_events ADD COLUMN event_seq bigint;
CREATE UNIQUE INDEX audit_events_seat_event ON audit_events (account_id, product_code, event_seq) WHERE event_seq IS NOT NULL;
