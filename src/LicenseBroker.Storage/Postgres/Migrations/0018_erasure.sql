-- 0018: erasure of a person (EraseAgent). Their id, name and e-mail are replaced, in the catalog and in every
-- event, by an opaque id ("erased-" and 16 hex digits), one per person, so every count stays exact.
-- erased_agents maps a seat event that reaches PostgreSQL after the erasure (still in a pool's journal in Redis)
-- to the same opaque id: it keeps a hash of the agent id, not the id.
CREATE TABLE erased_agents (
    account_id  text NOT NULL,
    agent_hash  text NOT NULL, -- hex SHA-256 of the agent id
    erased_id   text NOT NULL,
    erased_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, agent_hash)
);

-- Still append-only, with one exception: an erasure (a transaction that set lb.erasing) may rewrite who and what
-- a row names (actor, subject, before, after); when, which account, which product, which action and which
-- sequence never change.
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('lb.erasing', true) = 'on'
       AND NEW.id = OLD.id AND NEW.occurred_at = OLD.occurred_at AND NEW.account_id = OLD.account_id
       AND NEW.product_code IS NOT DISTINCT FROM OLD.product_code AND NEW.action = OLD.action
       AND NEW.event_seq IS NOT DISTINCT FROM OLD.event_seq THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;

-- A JSON document with every string value equal to one of `names` replaced by `erased` (jsonb's own quoting,
-- so only whole string values match, wherever they are); NULL stays NULL.
CREATE FUNCTION lb_erased(doc jsonb, names text[], erased text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    text_doc text := doc::text;
    name text;
BEGIN
    IF doc IS NULL THEN
        RETURN NULL;
    END IF;
    FOREACH name IN ARRAY names LOOP
        IF name <> '' THEN
            text_doc := replace(text_doc, to_jsonb(name)::text, to_jsonb(erased)::text);
        END IF;
    END LOOP;
    RETURN text_doc::jsonb;
END;
$$;
