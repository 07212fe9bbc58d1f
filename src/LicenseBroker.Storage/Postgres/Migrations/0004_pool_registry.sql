-- 0004: every pool (account and product) that was ever used in Redis. When Redis does not know a
-- pool, this tells a brand-new pool (admit at once) from one whose data Redis lost (hold
-- newcomers back for one lease TTL while holders re-establish their leases).
-- state REGISTERING: a replica is creating the pool's epoch in Redis right now (first use);
-- ACTIVE: the epoch was created, so from then on an absent epoch means Redis lost the data.
CREATE TABLE pool_registry (
    account_id     text NOT NULL,
    product_code   text NOT NULL,
    state          text NOT NULL DEFAULT 'REGISTERING' CHECK (state IN ('REGISTERING', 'ACTIVE')),
    first_used_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, product_code)
);
