-- 0007: idle seats handed back. Per subscription (so per pool): a lease still PENDING this long after
-- its kind last changed, or whose app reports its user idle this long, loses its seat. 0: never.
-- The broker enforces them in Redis on Redis's clock (prelude.lua); these columns are the settings.

ALTER TABLE subscriptions
    ADD COLUMN pending_timeout_seconds integer NOT NULL DEFAULT 0 CHECK (pending_timeout_seconds BETWEEN 0 AND 86400),
    ADD COLUMN idle_timeout_seconds    integer NOT NULL DEFAULT 0 CHECK (idle_timeout_seconds BETWEEN 0 AND 86400);
