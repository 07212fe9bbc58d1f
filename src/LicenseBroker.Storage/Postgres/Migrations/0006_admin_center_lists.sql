-- 0006: the Admin Center's Activity page reads an account's audit log newest first, paged by id.
CREATE INDEX audit_events_by_account_id ON audit_events (account_id, id);
