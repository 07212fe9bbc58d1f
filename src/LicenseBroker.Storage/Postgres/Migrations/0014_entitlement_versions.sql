-- 0014: entitlement snapshots and their change stream (docs/entitlements.md).
--
-- accounts.entitlement_version counts the committed changes of what decides entitlement: agents (added,
-- removed, suspended), seat assignments, subscriptions. It is raised in the change's own transaction, at
-- commit (a deferred constraint trigger), so a reader that sees version V sees exactly the changes up to V:
-- two readers at one version read the same state, and the diff between two versions is the same whichever
-- replica computes it. The account row is locked only at commit, after every other lock the transaction
-- takes, so this adds no lock-order cycle. Once per account and transaction (a transaction-local setting);
-- the commit notifies lb_entitlements with "account version", which every replica LISTENs to.
ALTER TABLE accounts ADD COLUMN entitlement_version bigint NOT NULL DEFAULT 0;

CREATE FUNCTION bump_entitlement_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    account text := CASE WHEN TG_OP = 'DELETE' THEN OLD.account_id ELSE NEW.account_id END;
    marker text := 'lb.entitlement_' || md5(account);
    version bigint;
BEGIN
    IF coalesce(current_setting(marker, true), '') = '1' THEN
        RETURN NULL;
    END IF;
    PERFORM set_config(marker, '1', true);
    UPDATE accounts SET entitlement_version = entitlement_version + 1 WHERE id = account
    RETURNING entitlement_version INTO version;
    IF version IS NOT NULL THEN
        PERFORM pg_notify('lb_entitlements', account || ' ' || version);
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER agents_entitlement_version
    AFTER INSERT OR DELETE OR UPDATE OF active ON agents
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_entitlement_version();

CREATE CONSTRAINT TRIGGER seat_assignments_entitlement_version
    AFTER INSERT OR DELETE OR UPDATE ON seat_assignments
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_entitlement_version();

CREATE CONSTRAINT TRIGGER subscriptions_entitlement_version
    AFTER INSERT OR DELETE OR UPDATE ON subscriptions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_entitlement_version();

-- Ed25519 keys that sign snapshots and changes. The private key must be read to sign, so it is kept (as
-- webhook secrets are; see SECURITY.md). One key signs at a time (retired_at IS NULL); a retired key is
-- published until retired_at + the snapshot lifetime, after which nothing it signed is valid.
CREATE TABLE entitlement_signing_keys (
    kid          text PRIMARY KEY,
    public_key   bytea NOT NULL CHECK (length(public_key) = 32),
    private_key  bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    retired_at   timestamptz
);
CREATE UNIQUE INDEX entitlement_signing_keys_one_active ON entitlement_signing_keys ((true)) WHERE retired_at IS NULL;
