-- 0013: SCIM ids that are never given to another user, the enterprise extension, and every e-mail.
--
-- Until now a SCIM user's id was its agent id (the userName at creation), so deleting a user and
-- creating the same userName again gave the new person the old id (RFC 7643 §3.1 forbids it: an
-- identity provider that still holds the id would act on the new person). The SCIM id is now a
-- column of its own: random for every new agent (however created), and for existing agents their
-- agent id, so an id an identity provider already holds keeps answering. The agent id (the sign-in
-- name agents' tokens carry) does not change.
ALTER TABLE agents ADD COLUMN scim_id text;
UPDATE agents SET scim_id = id;
ALTER TABLE agents ALTER COLUMN scim_id SET DEFAULT 'u_' || replace(gen_random_uuid()::text, '-', '');
ALTER TABLE agents ALTER COLUMN scim_id SET NOT NULL;
CREATE UNIQUE INDEX agents_scim_id_unique ON agents (account_id, scim_id);

-- Every e-mail the identity provider sent ([{value, type, primary}]); null: the agent's one e-mail, as work and primary.
-- agents.email stays the agent's e-mail: the primary one, else the work one, else the first.
ALTER TABLE agents ADD COLUMN scim_emails jsonb;

-- The enterprise extension (RFC 7643 §4.3): employeeNumber, costCenter, organization, division, department, manager.
ALTER TABLE agents ADD COLUMN scim_enterprise jsonb;
CREATE INDEX agents_employee_number ON agents (account_id, (scim_enterprise ->> 'employeeNumber')) WHERE scim_enterprise ? 'employeeNumber';
