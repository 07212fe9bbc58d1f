-- 0011: a version per account that every committed change of its catalog raises (LivePoolRules, after
-- the change's own transaction). Policies are read with it, before the rest of their data, and the live
-- pool keeps the version of the last change applied to it: a replica whose cached copy is older is told
-- so by the pool and reads the catalog again, so no grant uses rules older than the last change.
ALTER TABLE accounts ADD COLUMN catalog_version bigint NOT NULL DEFAULT 0;
