-- 0028: each person's own console preferences (SetMyPreferences): the time zone the Admin Center shows times in,
-- kept per person (account and token sub, which need not be one of the account's people) so it follows them from
-- browser to browser. Erasure deletes the person's row.
CREATE TABLE admin_preferences (
    account_id  text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    person_id   text NOT NULL,
    time_zone   text NOT NULL CHECK (char_length(time_zone) BETWEEN 1 AND 64),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, person_id)
);
