-- 0004: every pool (account and product) that was ever used in Redis. When Redis does not know a
-- pool, this tells a brand-new pool (admit at once) from one whose data Redis lost (hold
-- newcomers back for one lease TTL while holders re-establish their leases).
CREATE TABLE pool_registry (
    account_id     text NOT NULL,
    product_code   text NOT NULL,
    first_used_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, product_code)
);
