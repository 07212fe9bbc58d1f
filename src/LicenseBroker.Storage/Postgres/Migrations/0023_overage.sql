-- 0023: overage (issue 32). Per subscription (so per pool): whether shared seats are granted beyond the purchased
-- count when every one is taken (NONE, ALERT: newcomers only, BURST: waiters too), and how many: a number of seats or
-- a percent of the purchased count (rounded up), not both. The scripts decide each grant in Redis; these are the settings.

ALTER TABLE subscriptions
    ADD COLUMN overage_mode    text    NOT NULL DEFAULT 'NONE' CHECK (overage_mode IN ('NONE', 'ALERT', 'BURST')),
    ADD COLUMN overage_seats   integer NOT NULL DEFAULT 0 CHECK (overage_seats BETWEEN 0 AND 1000000),
    ADD COLUMN overage_percent integer NOT NULL DEFAULT 0 CHECK (overage_percent BETWEEN 0 AND 1000),
    ADD CONSTRAINT subscriptions_overage_one_allowance CHECK (overage_seats = 0 OR overage_percent = 0);
