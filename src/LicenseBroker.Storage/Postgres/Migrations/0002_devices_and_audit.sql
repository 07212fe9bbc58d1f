-- 0002: device registrations, product device kinds, and the append-only audit log.

-- Which kind of device a product registers: UNATTENDED machines (Remote Support) or MONITORED devices (Monitoring).
ALTER TABLE products ADD COLUMN device_kind text CHECK (device_kind IN ('UNATTENDED', 'MONITORED'));
UPDATE products SET device_kind = 'UNATTENDED' WHERE code IN ('remote-support', 'remote-support-v5');
UPDATE products SET device_kind = 'MONITORED' WHERE code = 'monitoring';

-- Optional limit on monitored devices (NULL: no limit).
ALTER TABLE subscriptions ADD COLUMN monitored_device_limit integer CHECK (monitored_device_limit >= 0);

CREATE TABLE devices (
    account_id     text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    product_code   text NOT NULL REFERENCES products (code),
    id             text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('UNATTENDED', 'MONITORED')),
    display_name   text NOT NULL,
    platform       text NOT NULL,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, product_code, id)
);

-- Every change and seat event, never updated nor deleted (enforced by the trigger below).
CREATE TABLE audit_events (
    id            bigserial PRIMARY KEY,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    account_id    text NOT NULL,
    product_code  text,
    actor         text NOT NULL,
    action        text NOT NULL,
    subject       text,
    before        jsonb,
    after         jsonb
);

CREATE INDEX audit_events_by_account ON audit_events (account_id, occurred_at);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;

CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
