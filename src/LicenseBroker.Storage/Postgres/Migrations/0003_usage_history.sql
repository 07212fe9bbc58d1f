-- 0003: daily usage kept beside the audit log, so history survives a Redis restart.

-- Per pool and UTC day: the most shared seats in use at once, and acquires refused as pool full.
-- Written from the counters the Redis scripts keep (never lowered: GREATEST on conflict).
CREATE TABLE usage_daily (
    account_id       text NOT NULL,
    product_code     text NOT NULL,
    day              date NOT NULL,
    peak_concurrent  integer NOT NULL DEFAULT 0,
    refused          integer NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, product_code, day)
);

-- History queries count distinct agents granted per day.
CREATE INDEX audit_events_by_pool_action ON audit_events (account_id, product_code, action, occurred_at);
