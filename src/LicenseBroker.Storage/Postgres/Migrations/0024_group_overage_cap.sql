-- 0024: a group's share of the overage (issue 32): at most this many of its members hold a shared seat beyond the
-- purchased count at once (NULL: no cap of its own, only the pool's allowance). Never above the pool's allowance (checked
-- when set; a later lower allowance simply wins, the smaller of the two applies).

ALTER TABLE pool_group_rules
    ADD COLUMN overage_max_seats integer NULL CHECK (overage_max_seats BETWEEN 0 AND 1000000);
