-- 0009: signed webhooks. An account's endpoints (URL, secret, event types); an outbox written in the
-- same transaction as the audit rows it comes from (never on a request's path); a delivery log.
-- Delivery is at least once, in outbox order per endpoint, signed per the Standard Webhooks spec.

CREATE TABLE webhook_endpoints (
    id                     text PRIMARY KEY,
    account_id             text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    url                    text NOT NULL,
    event_types            text[] NOT NULL,
    threshold_percent      integer CHECK (threshold_percent BETWEEN 1 AND 100),
    -- The signing secret must be read to sign, so it is kept, not hashed (as the webhook providers
    -- do); it is shown to the admin once. During a rotation the previous one signs too, until then.
    secret                 text NOT NULL,
    previous_secret        text,
    previous_secret_until  timestamptz,
    state                  text NOT NULL DEFAULT 'ACTIVE' CHECK (state IN ('ACTIVE', 'FAILING', 'DISABLED')),
    created_by             text NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_by_account ON webhook_endpoints (account_id);

CREATE TABLE webhook_outbox (
    id               bigserial PRIMARY KEY,
    endpoint_id      text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    message_id       text NOT NULL UNIQUE,
    event_type       text NOT NULL,
    payload          jsonb NOT NULL,
    occurred_at      timestamptz NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    claimed_until    timestamptz,
    delivered_at     timestamptz
);
-- The dispatcher reads the oldest undelivered message of each endpoint (per-endpoint order).
CREATE INDEX webhook_outbox_pending ON webhook_outbox (endpoint_id, id) WHERE delivered_at IS NULL;

CREATE TABLE webhook_deliveries (
    id            bigserial PRIMARY KEY,
    endpoint_id   text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    message_id    text NOT NULL,
    event_type    text NOT NULL,
    attempt       integer NOT NULL,
    attempted_at  timestamptz NOT NULL DEFAULT now(),
    status_code   integer,
    error         text,
    duration_ms   integer NOT NULL
);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
