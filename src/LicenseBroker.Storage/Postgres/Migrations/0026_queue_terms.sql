-- 0026: a pool's own queue terms (issue 33), each NULL for the broker's default: at most this many waiters
-- (default: twice the shared seats, and at least 20), the longest wait, and the queue's aging step.

ALTER TABLE subscriptions
    ADD COLUMN queue_max_waiters integer NULL CHECK (queue_max_waiters BETWEEN 1 AND 1000000),
    ADD COLUMN queue_max_wait_seconds integer NULL CHECK (queue_max_wait_seconds BETWEEN 1 AND 86400),
    ADD COLUMN queue_age_step_seconds integer NULL CHECK (queue_age_step_seconds BETWEEN 1 AND 3600);
