-- 0010: webhook delivery is scheduled per endpoint, the unit of ordering: next_attempt_at is when its
-- oldest undelivered message is due (NULL: nothing waits), claimed_until is a dispatcher's claim.
-- The dispatcher reads only the endpoints that are due (an index), never other tenants' backlogs.
ALTER TABLE webhook_endpoints ADD COLUMN next_attempt_at timestamptz;
ALTER TABLE webhook_endpoints ADD COLUMN claimed_until timestamptz;

UPDATE webhook_endpoints e SET next_attempt_at = (
    SELECT o.next_attempt_at FROM webhook_outbox o
    WHERE o.endpoint_id = e.id AND o.delivered_at IS NULL ORDER BY o.id LIMIT 1);

CREATE INDEX webhook_endpoints_due ON webhook_endpoints (next_attempt_at) WHERE state = 'ACTIVE' AND next_attempt_at IS NOT NULL;
