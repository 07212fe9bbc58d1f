-- 0021: webhook_outbox.claimed_until was written by no version since 0010 moved the claim to the endpoint
-- (webhook_endpoints.claimed_until, one claim per endpoint keeps its order); no broker reads it, so a rolling deploy
-- with the previous version is safe. Dropped from the partitioned table, and so from every partition, at once.
ALTER TABLE webhook_outbox DROP COLUMN IF EXISTS claimed_until;
