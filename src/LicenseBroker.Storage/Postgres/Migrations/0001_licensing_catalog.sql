-- 0001: the durable licensing catalog: accounts, products, subscriptions, agents, seat assignments.

CREATE TABLE accounts (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Products are reference data. seat_model UNLIMITED: no seat limit, every agent of the account may use it.
CREATE TABLE products (
    code                 text PRIMARY KEY,
    name                 text NOT NULL,
    seat_model           text NOT NULL CHECK (seat_model IN ('SEATS', 'UNLIMITED')),
    supports_unattended  boolean NOT NULL DEFAULT false
);

INSERT INTO products (code, name, seat_model, supports_unattended) VALUES
    ('remote-support',    'Remote Support',    'SEATS',     true),
    ('service-desk',      'Service Desk',      'SEATS',     false),
    ('remote-support-v5', 'Remote Support v5', 'SEATS',     true),
    ('monitoring',        'Monitoring',        'UNLIMITED', false);

CREATE TABLE subscriptions (
    account_id               text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    product_code             text NOT NULL REFERENCES products (code),
    plan                     text NOT NULL CHECK (plan IN ('TRIAL', 'PAID')),
    valid_until              timestamptz NOT NULL,
    named_seat_limit         integer NOT NULL CHECK (named_seat_limit >= 0),
    concurrent_seat_limit    integer NOT NULL CHECK (concurrent_seat_limit >= 0),
    unattended_device_limit  integer NOT NULL DEFAULT 0 CHECK (unattended_device_limit >= 0),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, product_code)
);

-- Agent ids are the `sub` of their tokens, unique within an account.
CREATE TABLE agents (
    account_id    text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id            text NOT NULL,
    email         text NOT NULL,
    display_name  text NOT NULL,
    role          text NOT NULL DEFAULT 'MEMBER' CHECK (role IN ('ADMIN', 'MANAGER', 'MEMBER')),
    privileges    text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id)
);

CREATE UNIQUE INDEX agents_email_unique ON agents (account_id, lower(email));

-- One seat per agent and product: NAMED (dedicated) or CONCURRENT (eligible for the shared pool).
CREATE TABLE seat_assignments (
    account_id    text NOT NULL,
    agent_id      text NOT NULL,
    product_code  text NOT NULL REFERENCES products (code),
    seat_type     text NOT NULL CHECK (seat_type IN ('NAMED', 'CONCURRENT')),
    assigned_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, product_code, agent_id),
    FOREIGN KEY (account_id, agent_id) REFERENCES agents (account_id, id) ON DELETE CASCADE
);

CREATE INDEX seat_assignments_by_agent ON seat_assignments (account_id, agent_id);
