-- 0022: sessions that survive network gaps and outages. Per subscription (so per pool): how long after its expiry a
-- lease is revived by its own app's heartbeat when the seat was not needed meanwhile, and how long past its expiry a
-- lease's outage grace runs (signed into its proof; honoured when it expired while no broker could reach the pool).
-- The broker enforces both in Redis on Redis's clock (library/06_leases.lua); these columns are the settings.

ALTER TABLE subscriptions
    ADD COLUMN revive_window_seconds integer NOT NULL DEFAULT 300 CHECK (revive_window_seconds BETWEEN 0 AND 900),
    ADD COLUMN outage_grace_seconds  integer NOT NULL DEFAULT 300 CHECK (outage_grace_seconds BETWEEN 0 AND 900);
