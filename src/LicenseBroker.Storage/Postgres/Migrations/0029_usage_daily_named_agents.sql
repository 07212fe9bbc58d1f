-- 0029: the history's named seats beside the shared ones: per day, the distinct agents who worked on a named seat (the
-- seat the agent held in the product when their first grant of the day was stored, seconds after it; a switch later
-- that day is not counted again). Counted with distinct_agents, in the transaction that stores the grant.
ALTER TABLE usage_daily ADD COLUMN named_agents integer NOT NULL DEFAULT 0;
