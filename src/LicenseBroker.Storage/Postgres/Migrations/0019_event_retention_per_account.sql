-- lb:outside-transaction
-- 0019: the event log kept per account, and the webhook outbox and delivery log partitioned like the audit log.
--
-- Retention per account. accounts.event_retention_days is one of a few classes (lb_retention_classes(); default
-- 400 days, what the seat planner replays). Every row of audit_events, webhook_outbox and webhook_deliveries
-- carries its account's class when written (retention_days), and each month of these tables is split by class
-- (LIST sub-partitions <table>_YYYY_MM_d<days>, plus <table>_YYYY_MM_dother for a class a later migration adds),
-- so a class's month is dropped whole, one statement, when its last day is <days> old: no row-by-row delete.
-- Readers also leave out what is older than the account's current retention, so a shorter retention hides the
-- older rows at once; they are dropped with their class's month. A longer one keeps what is written from then on.
-- The partitions made before this migration (<table>_before_partitions and the current month of audit_events)
-- hold all classes: they are dropped when the longest retention any account has is past.
--
-- webhook_outbox (by created_at, new: occurred_at is reset when an endpoint is enabled again) and
-- webhook_deliveries (by attempted_at) are partitioned by month as 0016 did audit_events: today's table becomes
-- the first partition (a validated CHECK proves its bound; its indexes are built first, CONCURRENTLY), so writers
-- wait only for the catalog changes of the swap. The new months have no unique index (it would have to hold the
-- partition keys): ids come from their sequences, message_id is a random UUID; the outbox is read by id (an index).
--
-- One pair of functions serves the three tables: lb_partitions_ensure(table, months_ahead) and
-- lb_partitions_expire(table, as_of); 0016's lb_audit_partitions_* are replaced by them.

-- lb:step
CREATE OR REPLACE FUNCTION lb_retention_classes() RETURNS integer[] LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY[90, 180, 400, 730, 1825]
$$;
-- lb:step
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS event_retention_days integer NOT NULL DEFAULT 400
    CONSTRAINT accounts_event_retention_class CHECK (event_retention_days = ANY (lb_retention_classes()));
-- lb:step
-- The retention class of an account's rows (400 for an account not yet in the catalog).
CREATE OR REPLACE FUNCTION lb_event_retention_days(account text) RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT event_retention_days FROM accounts WHERE id = account), 400)
$$;
-- lb:step
ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS retention_days integer NOT NULL DEFAULT 400;
ALTER TABLE webhook_outbox ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE webhook_outbox ADD COLUMN IF NOT EXISTS retention_days integer NOT NULL DEFAULT 400;
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS retention_days integer NOT NULL DEFAULT 400;

-- lb:step
-- The previous version's partition upkeep goes (its brokers log a warning until replaced), so that no month is made
-- the old way while this migration runs; lb_partitions_ensure (below) makes them from now on.
DROP FUNCTION IF EXISTS lb_audit_partitions_ensure(integer);
DROP FUNCTION IF EXISTS lb_audit_partitions_expire(interval);
-- lb:step
-- The months of audit_events that 0016 made ahead, still empty, are made again split by class (below).
DO $$
DECLARE
    part record;
    has_rows boolean;
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit_events'::regclass AND c.relkind = 'r'
          AND c.relname ~ '^audit_events_\d{4}_\d{2}$'
          AND to_date(substr(c.relname, 14), 'YYYY_MM') > (now() AT TIME ZONE 'UTC')::date
    LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', part.relname) INTO has_rows;
        IF NOT has_rows THEN
            EXECUTE format('DROP TABLE %I', part.relname);
        END IF;
    END LOOP;
END;
$$;
-- lb:step
-- A unique index of a partitioned table holds its partition keys: the seat-event key now includes retention_days.
-- Built on each existing partition first, CONCURRENTLY (writers continue), then attached to the parent's.
-- lb:statements-from-query
SELECT format('CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS %I ON %I (account_id, product_code, event_seq, occurred_at, retention_days) WHERE event_seq IS NOT NULL',
              c.relname || '_seat_event_class', c.relname)
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'audit_events'::regclass AND c.relkind = 'r';
-- lb:step
DO $$
DECLARE
    leaf record;
BEGIN
    IF to_regclass('audit_events_seat_event_class') IS NULL THEN
        CREATE UNIQUE INDEX audit_events_seat_event_class ON ONLY audit_events (account_id, product_code, event_seq, occurred_at, retention_days)
            WHERE event_seq IS NOT NULL;
    END IF;
    FOR leaf IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit_events'::regclass AND c.relkind = 'r'
    LOOP
        IF to_regclass(leaf.relname || '_seat_event_class') IS NULL THEN -- a partition made since the step above
            EXECUTE format('CREATE UNIQUE INDEX %I ON %I (account_id, product_code, event_seq, occurred_at, retention_days) WHERE event_seq IS NOT NULL',
                leaf.relname || '_seat_event_class', leaf.relname);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = (leaf.relname || '_seat_event_class')::regclass) THEN
            EXECUTE format('ALTER INDEX audit_events_seat_event_class ATTACH PARTITION %I', leaf.relname || '_seat_event_class');
        END IF;
    END LOOP;
    DROP INDEX IF EXISTS audit_events_seat_event;
END;
$$;
-- lb:step
CREATE INDEX CONCURRENTLY IF NOT EXISTS webhook_outbox_by_id ON webhook_outbox (id);
-- lb:step
DO $$
DECLARE
    boundary timestamptz := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '2 months';
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'webhook_outbox'::regclass) = 'r'
       AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'webhook_outbox_before_partitions') THEN
        EXECUTE format('ALTER TABLE webhook_outbox ADD CONSTRAINT webhook_outbox_before_partitions CHECK (created_at < %L) NOT VALID', boundary);
    END IF;
    IF (SELECT relkind FROM pg_class WHERE oid = 'webhook_deliveries'::regclass) = 'r'
       AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'webhook_deliveries_before_partitions') THEN
        EXECUTE format('ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_before_partitions CHECK (attempted_at < %L) NOT VALID', boundary);
    END IF;
END;
$$;
-- lb:step
DO $$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'webhook_outbox'::regclass) = 'r' THEN
        ALTER TABLE webhook_outbox VALIDATE CONSTRAINT webhook_outbox_before_partitions;
    END IF;
    IF (SELECT relkind FROM pg_class WHERE oid = 'webhook_deliveries'::regclass) = 'r' THEN
        ALTER TABLE webhook_deliveries VALIDATE CONSTRAINT webhook_deliveries_before_partitions;
    END IF;
END;
$$;
-- lb:step
DO $$
DECLARE
    boundary timestamptz;
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'webhook_outbox'::regclass) = 'p' THEN
        RETURN;
    END IF;
    SELECT (regexp_match(pg_get_constraintdef(oid), '< ''([^'']+)''::timestamp'))[1]::timestamptz INTO boundary
    FROM pg_constraint WHERE conname = 'webhook_outbox_before_partitions';

    ALTER TABLE webhook_outbox RENAME TO webhook_outbox_before_partitions;
    ALTER SEQUENCE webhook_outbox_id_seq OWNED BY NONE;
    ALTER INDEX webhook_outbox_pkey RENAME TO webhook_outbox_before_partitions_pkey;
    ALTER INDEX webhook_outbox_message_id_key RENAME TO webhook_outbox_before_partitions_message_id_key;
    ALTER INDEX webhook_outbox_pending RENAME TO webhook_outbox_before_partitions_pending;
    ALTER INDEX webhook_outbox_by_id RENAME TO webhook_outbox_before_partitions_by_id;

    CREATE TABLE webhook_outbox (
        id               bigint NOT NULL DEFAULT nextval('webhook_outbox_id_seq'),
        endpoint_id      text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
        message_id       text NOT NULL,
        event_type       text NOT NULL,
        payload          jsonb NOT NULL,
        occurred_at      timestamptz NOT NULL,
        attempts         integer NOT NULL DEFAULT 0,
        next_attempt_at  timestamptz NOT NULL DEFAULT now(),
        claimed_until    timestamptz,
        delivered_at     timestamptz,
        created_at       timestamptz NOT NULL DEFAULT now(),
        retention_days   integer NOT NULL DEFAULT 400
    ) PARTITION BY RANGE (created_at);
    ALTER SEQUENCE webhook_outbox_id_seq OWNED BY webhook_outbox.id;
    CREATE INDEX webhook_outbox_by_id ON webhook_outbox (id);
    CREATE INDEX webhook_outbox_pending ON webhook_outbox (endpoint_id, id) WHERE delivered_at IS NULL;
    EXECUTE format('ALTER TABLE webhook_outbox ATTACH PARTITION webhook_outbox_before_partitions FOR VALUES FROM (MINVALUE) TO (%L)', boundary);
    CREATE TABLE webhook_outbox_default PARTITION OF webhook_outbox DEFAULT;
END;
$$;
-- lb:step
DO $$
DECLARE
    boundary timestamptz;
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'webhook_deliveries'::regclass) = 'p' THEN
        RETURN;
    END IF;
    SELECT (regexp_match(pg_get_constraintdef(oid), '< ''([^'']+)''::timestamp'))[1]::timestamptz INTO boundary
    FROM pg_constraint WHERE conname = 'webhook_deliveries_before_partitions';

    ALTER TABLE webhook_deliveries RENAME TO webhook_deliveries_before_partitions;
    ALTER SEQUENCE webhook_deliveries_id_seq OWNED BY NONE;
    ALTER INDEX webhook_deliveries_pkey RENAME TO webhook_deliveries_before_partitions_pkey;
    ALTER INDEX webhook_deliveries_by_endpoint RENAME TO webhook_deliveries_before_partitions_by_endpoint;

    CREATE TABLE webhook_deliveries (
        id              bigint NOT NULL DEFAULT nextval('webhook_deliveries_id_seq'),
        endpoint_id     text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
        message_id      text NOT NULL,
        event_type      text NOT NULL,
        attempt         integer NOT NULL,
        attempted_at    timestamptz NOT NULL DEFAULT now(),
        status_code     integer,
        error           text,
        duration_ms     integer NOT NULL,
        retention_days  integer NOT NULL DEFAULT 400
    ) PARTITION BY RANGE (attempted_at);
    ALTER SEQUENCE webhook_deliveries_id_seq OWNED BY webhook_deliveries.id;
    CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
    EXECUTE format('ALTER TABLE webhook_deliveries ATTACH PARTITION webhook_deliveries_before_partitions FOR VALUES FROM (MINVALUE) TO (%L)', boundary);
    CREATE TABLE webhook_deliveries_default PARTITION OF webhook_deliveries DEFAULT;
END;
$$;
-- lb:step

-- Monthly partitions of `parent`, each split by retention class, from the current month (or the first boundary,
-- if later) until `months_ahead` months past it; returns how many months it made. Months already past are never
-- made again (expiry dropped them). Idempotent; replicas take turns on a transaction-scoped advisory lock.
CREATE OR REPLACE FUNCTION lb_partitions_ensure(parent text, months_ahead integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    this_month timestamptz := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    first_month timestamptz;
    month timestamptz;
    made integer := 0;
    name text;
    class integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('lb_partitions:' || parent));
    SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz INTO first_month
    FROM pg_class c WHERE c.relname = parent || '_before_partitions';
    month := greatest(this_month, first_month);
    WHILE month < this_month + make_interval(months => months_ahead + 1) LOOP
        name := parent || '_' || to_char(month AT TIME ZONE 'UTC', 'YYYY_MM');
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L) PARTITION BY LIST (retention_days)',
                name, parent, month, month + interval '1 month');
            made := made + 1;
        END IF;
        IF (SELECT relkind FROM pg_class WHERE oid = name::regclass) = 'p' THEN
            FOREACH class IN ARRAY lb_retention_classes() LOOP
                IF to_regclass(name || '_d' || class) IS NULL THEN
                    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES IN (%s)', name || '_d' || class, name, class);
                END IF;
            END LOOP;
            IF to_regclass(name || '_dother') IS NULL THEN
                EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', name || '_dother', name);
            END IF;
        END IF;
        month := month + interval '1 month';
    END LOOP;
    RETURN made;
END;
$$;

-- Drops, one statement each, what is past its retention at `as_of`: a month's class partition once the month's
-- last day is <class> days old; a partition holding all classes (made before 0019, or a month's dother) once it
-- is as old as the longest retention any account has; a class partition left empty a month after its month
-- ended (nothing is written that late), and a month with no partition left. Returns the names dropped. The
-- DEFAULT partition is never dropped. Bounded: one look at each partition, never at rows (but the emptiness test).
CREATE OR REPLACE FUNCTION lb_partitions_expire(parent text, as_of timestamptz) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    longest integer := (SELECT coalesce(max(event_retention_days), 400) FROM accounts);
    part record;
    sub record;
    upper_bound timestamptz;
    class integer;
    is_empty boolean;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('lb_partitions:' || parent));
    FOR part IN
        SELECT c.relname, c.relkind, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent::regclass AND c.relname <> parent || '_default'
    LOOP
        upper_bound := (regexp_match(part.bound, 'TO \(''([^'']+)''\)'))[1]::timestamptz;
        IF part.relkind = 'r' THEN
            IF upper_bound <= as_of - make_interval(days => longest) THEN
                EXECUTE format('DROP TABLE %I', part.relname);
                RETURN NEXT part.relname;
            END IF;
            CONTINUE;
        END IF;
        FOR sub IN
            SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = part.relname::regclass
        LOOP
            class := (regexp_match(sub.bound, 'IN \((\d+)\)'))[1]::integer; -- NULL: the month's DEFAULT (dother)
            is_empty := false;
            IF upper_bound <= as_of - interval '31 days' THEN
                EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %I)', sub.relname) INTO is_empty;
            END IF;
            IF upper_bound <= as_of - make_interval(days => coalesce(class, longest)) OR (is_empty AND class IS NOT NULL) THEN
                EXECUTE format('DROP TABLE %I', sub.relname);
                RETURN NEXT sub.relname;
            END IF;
        END LOOP;
        IF NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhparent = part.relname::regclass) THEN
            EXECUTE format('DROP TABLE %I', part.relname);
            RETURN NEXT part.relname;
        END IF;
    END LOOP;
END;
$$;
-- lb:step
SELECT lb_partitions_ensure('audit_events', 3), lb_partitions_ensure('webhook_outbox', 3), lb_partitions_ensure('webhook_deliveries', 3);
