-- 0015: 0014's trigger remembered "this account was bumped in this transaction" in one transaction-local
-- setting per account (lb.entitlement_<md5>). PostgreSQL keeps every custom setting name a session has
-- ever used, and inserts each new one in a sorted array: a transaction touching 10,000 accounts (a bulk
-- load) stalled past a minute, and a pooled connection's table of names grew with every account it served.
-- Now: the transaction's id is kept on the account row (entitlement_xact), so the version goes up once per
-- transaction and account; one setting (the last account bumped) skips the row lookup for the rows of a
-- bulk change of one account.
ALTER TABLE accounts ADD COLUMN entitlement_xact bigint;

CREATE OR REPLACE FUNCTION bump_entitlement_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    account text := CASE WHEN TG_OP = 'DELETE' THEN OLD.account_id ELSE NEW.account_id END;
    version bigint;
BEGIN
    IF current_setting('lb.entitlement_account', true) IS NOT DISTINCT FROM account THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('lb.entitlement_account', account, true);
    UPDATE accounts SET entitlement_version = entitlement_version + 1, entitlement_xact = txid_current()
    WHERE id = account AND entitlement_xact IS DISTINCT FROM txid_current()
    RETURNING entitlement_version INTO version;
    IF version IS NOT NULL THEN
        PERFORM pg_notify('lb_entitlements', account || ' ' || version);
    END IF;
    RETURN NULL;
END;
$$;
