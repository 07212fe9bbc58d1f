-- 0008: agent groups' shared seats. Agent groups are the account's groups of scim_groups (created by
-- an identity provider over SCIM, or by an admin through UpsertAgentGroup): a team. Per pool, a group
-- may have seats reserved (only its members take them, and they take them first) and a cap (at most
-- max_seats of its members hold a shared seat at once). Enforced in Redis by the grant script
-- (prelude.lua, Groups); these rows are the settings.
CREATE TABLE pool_group_rules (
    account_id      text NOT NULL,
    product_code    text NOT NULL REFERENCES products (code),
    group_id        text NOT NULL,
    reserved_seats  integer NOT NULL DEFAULT 0 CHECK (reserved_seats BETWEEN 0 AND 1000000),
    max_seats       integer CHECK (max_seats BETWEEN 0 AND 1000000),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, product_code, group_id),
    FOREIGN KEY (account_id, group_id) REFERENCES scim_groups (account_id, id) ON DELETE CASCADE,
    CHECK (max_seats IS NULL OR max_seats >= reserved_seats)
);
