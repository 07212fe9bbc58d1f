-- 0025: the fair queue (issue 33). A group's priority class in a pool's wait queue (0 incident, 1 high, 2 standard,
-- 3 background; NULL: standard), and the daily counts of waits begun and waits that ended without a seat (cancelled,
-- timed out, abandoned), kept from the seat events as they are stored.

ALTER TABLE pool_group_rules
    ADD COLUMN queue_priority smallint NULL CHECK (queue_priority BETWEEN 0 AND 3);

ALTER TABLE usage_daily
    ADD COLUMN queue_joins integer NOT NULL DEFAULT 0,
    ADD COLUMN queue_abandoned integer NOT NULL DEFAULT 0;
