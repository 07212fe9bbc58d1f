-- 0005: automated provisioning from an identity provider over SCIM 2.0 (RFC 7643/7644).
--
-- Users are agents: a SCIM user's id is the agent id (its userName when it was created, so that
-- tokens whose sub is the sign-in name find it); user_name may change later, the id does not.
-- active = false suspends an agent: no seats, no leases, kept for reactivation.
ALTER TABLE agents ADD COLUMN user_name text;
ALTER TABLE agents ADD COLUMN external_id text;
ALTER TABLE agents ADD COLUMN given_name text;
ALTER TABLE agents ADD COLUMN family_name text;
ALTER TABLE agents ADD COLUMN active boolean NOT NULL DEFAULT true;
ALTER TABLE agents ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE UNIQUE INDEX agents_user_name_unique ON agents (account_id, lower(user_name)) WHERE user_name IS NOT NULL;
CREATE UNIQUE INDEX agents_external_id_unique ON agents (account_id, external_id) WHERE external_id IS NOT NULL;

-- Secrets are kept as SHA-256 hashes only; the token itself is shown once, at creation.
CREATE TABLE provisioning_tokens (
    account_id    text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id            text NOT NULL,
    name          text NOT NULL,
    secret_hash   bytea NOT NULL,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    PRIMARY KEY (id)
);
CREATE INDEX provisioning_tokens_by_account ON provisioning_tokens (account_id, created_at);

CREATE TABLE scim_groups (
    account_id    text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id            text NOT NULL,
    display_name  text NOT NULL,
    external_id   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id)
);
CREATE UNIQUE INDEX scim_groups_name_unique ON scim_groups (account_id, lower(display_name));

CREATE TABLE scim_group_members (
    account_id  text NOT NULL,
    group_id    text NOT NULL,
    agent_id    text NOT NULL,
    PRIMARY KEY (account_id, group_id, agent_id),
    FOREIGN KEY (account_id, group_id) REFERENCES scim_groups (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, agent_id) REFERENCES agents (account_id, id) ON DELETE CASCADE
);
CREATE INDEX scim_group_members_by_agent ON scim_group_members (account_id, agent_id);

-- An admin maps a group (by its display name, so the mapping may come before the group) to the
-- seat its members get. A product with any mapping is governed by the groups: membership decides
-- its seats.
CREATE TABLE scim_group_seats (
    account_id    text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    group_name    text NOT NULL,
    product_code  text NOT NULL REFERENCES products (code),
    seat_type     text NOT NULL CHECK (seat_type IN ('NAMED', 'CONCURRENT')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, product_code, group_name)
);
CREATE UNIQUE INDEX scim_group_seats_name ON scim_group_seats (account_id, product_code, lower(group_name));

-- A named seat the groups give but the limit did not allow: listed for admins, given
-- automatically (oldest first) when a named seat frees.
CREATE TABLE provisioning_problems (
    account_id    text NOT NULL,
    agent_id      text NOT NULL,
    product_code  text NOT NULL,
    reason        text NOT NULL,
    detail        text NOT NULL,
    first_seen    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, product_code, agent_id),
    FOREIGN KEY (account_id, agent_id) REFERENCES agents (account_id, id) ON DELETE CASCADE
);
