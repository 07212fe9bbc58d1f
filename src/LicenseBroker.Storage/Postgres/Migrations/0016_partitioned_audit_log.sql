-- lb:outside-transaction
-- 0016: audit_events partitioned by month (PostgreSQL's declarative partitioning), so that years of seat
-- events stay cheap to write, read and expire: retention drops whole months (one statement, no row-by-row
-- delete, no bloat), and a query over a range reads only its months.
--
-- Today's table is not copied: it becomes the first partition, holding everything before the first month
-- boundary at least a month away (so no row written while a rolling deploy finishes can fall outside it).
-- Writers wait only for the few catalog changes between the rename and the commit:
--   * the CHECK that proves its rows precede the boundary is added NOT VALID and then validated, which
--     scans the table under a lock that lets inserts continue, so ATTACH PARTITION need not scan it;
--   * every index of the new parent has its twin on the old table already, or is built here first,
--     CONCURRENTLY (the seat-event key now includes occurred_at, as a unique index of a partitioned table
--     must).
-- So this migration runs outside one transaction, step by step (MigrationRunner); each step is idempotent.
-- From the boundary on, rows go to monthly partitions created ahead by lb_audit_partitions_ensure() (run
-- here and by every replica daily); a DEFAULT partition catches a row whose month is missing, never losing it.
-- The append-only rule holds on every partition (the trigger is cloned); only retention drops a partition.

-- lb:step
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS audit_events_seat_event_at
    ON audit_events (account_id, product_code, event_seq, occurred_at) WHERE event_seq IS NOT NULL;
-- lb:step
DO $$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'audit_events'::regclass) = 'r'
       AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'audit_events_before_partitions') THEN
        EXECUTE format('ALTER TABLE audit_events ADD CONSTRAINT audit_events_before_partitions CHECK (occurred_at < %L) NOT VALID',
            date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '2 months');
    END IF;
END;
$$;
-- lb:step
DO $$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'audit_events'::regclass) = 'r' THEN
        ALTER TABLE audit_events VALIDATE CONSTRAINT audit_events_before_partitions;
    END IF;
END;
$$;
-- lb:step
DO $$
DECLARE
    boundary timestamptz;
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'audit_events'::regclass) = 'p' THEN
        RETURN;
    END IF;
    -- The boundary the validated CHECK proves (a later one would do too: the CHECK still implies it).
    SELECT (regexp_match(pg_get_constraintdef(oid), '< ''([^'']+)''::timestamp'))[1]::timestamptz INTO boundary
    FROM pg_constraint WHERE conname = 'audit_events_before_partitions';

    ALTER TABLE audit_events RENAME TO audit_events_before_partitions;
    ALTER SEQUENCE audit_events_id_seq OWNED BY NONE;
    ALTER INDEX audit_events_pkey RENAME TO audit_events_before_partitions_pkey;
    ALTER INDEX audit_events_by_account RENAME TO audit_events_before_partitions_by_account;
    ALTER INDEX audit_events_by_pool_action RENAME TO audit_events_before_partitions_by_pool_action;
    ALTER INDEX audit_events_by_account_id RENAME TO audit_events_before_partitions_by_account_id;
    ALTER INDEX audit_events_seat_event_at RENAME TO audit_events_before_partitions_seat_event;
    DROP INDEX audit_events_seat_event; -- the same key without occurred_at: redundant now

    CREATE TABLE audit_events (
        id            bigint NOT NULL DEFAULT nextval('audit_events_id_seq'),
        occurred_at   timestamptz NOT NULL DEFAULT now(),
        account_id    text NOT NULL,
        product_code  text,
        actor         text NOT NULL,
        action        text NOT NULL,
        subject       text,
        before        jsonb,
        after         jsonb,
        event_seq     bigint
    ) PARTITION BY RANGE (occurred_at);
    ALTER SEQUENCE audit_events_id_seq OWNED BY audit_events.id;

    -- The old table's indexes are taken as the partition's (same definitions). The id stays unique by its
    -- sequence: a unique index of a partitioned table must include occurred_at.
    CREATE INDEX audit_events_by_account ON audit_events (account_id, occurred_at);
    CREATE INDEX audit_events_by_pool_action ON audit_events (account_id, product_code, action, occurred_at);
    CREATE INDEX audit_events_by_account_id ON audit_events (account_id, id);
    CREATE UNIQUE INDEX audit_events_seat_event ON audit_events (account_id, product_code, event_seq, occurred_at) WHERE event_seq IS NOT NULL;

    EXECUTE format('ALTER TABLE audit_events ATTACH PARTITION audit_events_before_partitions FOR VALUES FROM (MINVALUE) TO (%L)', boundary);
    CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;

    -- The parent's trigger is cloned onto every partition, the old table included (its own is replaced).
    DROP TRIGGER audit_events_no_update_or_delete ON audit_events_before_partitions;
    CREATE TRIGGER audit_events_no_update_or_delete
        BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
END;
$$;
-- lb:step
-- Monthly partitions from the first boundary until `months_ahead` months past now; returns how many it made.
-- Idempotent, and safe on several replicas at once (a transaction-scoped advisory lock).
CREATE OR REPLACE FUNCTION lb_audit_partitions_ensure(months_ahead integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    first_month timestamptz;
    month timestamptz;
    made integer := 0;
    name text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('lb_audit_partitions'));
    SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz INTO first_month
    FROM pg_class c WHERE c.relname = 'audit_events_before_partitions';
    month := first_month;
    WHILE month < date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + make_interval(months => months_ahead + 1) LOOP
        name := 'audit_events_' || to_char(month AT TIME ZONE 'UTC', 'YYYY_MM');
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)', name, month, month + interval '1 month');
            made := made + 1;
        END IF;
        month := month + interval '1 month';
    END LOOP;
    RETURN made;
END;
$$;

-- Drops the monthly partitions (and the first one) whose every row is older than `keep`: one DROP per
-- month, no row-by-row delete. Returns the partitions dropped. The DEFAULT partition is never dropped.
CREATE OR REPLACE FUNCTION lb_audit_partitions_expire(keep interval) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    part record;
    upper_bound timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('lb_audit_partitions'));
    FOR part IN
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit_events'::regclass AND c.relname <> 'audit_events_default'
    LOOP
        upper_bound := (regexp_match(part.bound, 'TO \(''([^'']+)''\)'))[1]::timestamptz;
        IF upper_bound <= now() - keep THEN
            EXECUTE format('DROP TABLE %I', part.relname);
            RETURN NEXT part.relname;
        END IF;
    END LOOP;
END;
$$;

SELECT lb_audit_partitions_ensure(3);
