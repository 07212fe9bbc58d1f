-- lb:outside-transaction
-- 0017: the usage history's "distinct agents granted a seat per day" from a daily rollup, so that history
-- (and the console's chart) never counts raw audit rows, however long the range. usage_daily_agents holds one
-- row per pool, day and agent granted; the seat-event writer adds it in the transaction that stores the grant
-- (ON CONFLICT DO NOTHING: the first grant of the day counts) and raises usage_daily.distinct_agents by the rows
-- it added. Existing days are filled from the audit log here, step by step, writers continuing.
-- lb:step
CREATE TABLE IF NOT EXISTS usage_daily_agents (
    account_id    text NOT NULL,
    product_code  text NOT NULL,
    day           date NOT NULL,
    agent_id      text NOT NULL,
    PRIMARY KEY (account_id, product_code, day, agent_id)
);
ALTER TABLE usage_daily ADD COLUMN IF NOT EXISTS distinct_agents integer NOT NULL DEFAULT 0;
-- lb:step
INSERT INTO usage_daily_agents (account_id, product_code, day, agent_id)
SELECT DISTINCT account_id, product_code, (occurred_at AT TIME ZONE 'UTC')::date, subject
FROM audit_events
WHERE action = 'seat.granted' AND product_code IS NOT NULL AND subject IS NOT NULL
ON CONFLICT DO NOTHING;
-- lb:step
INSERT INTO usage_daily (account_id, product_code, day, distinct_agents)
SELECT account_id, product_code, day, count(*) FROM usage_daily_agents GROUP BY account_id, product_code, day
ON CONFLICT (account_id, product_code, day) DO UPDATE SET distinct_agents = EXCLUDED.distinct_agents;
