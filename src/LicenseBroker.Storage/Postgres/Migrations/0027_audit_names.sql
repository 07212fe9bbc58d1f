-- 0027: names the audit log's readers need that the people list does not hold: an admin who signs in through the
-- identity provider without being one of the account's people, or a back-office service (the last name its validated
-- token gave, the `name` claim), and a person who was removed (their name when removed). The Activity page says
-- "Claire Dubois removed Eve Laurent" instead of ids. Read by primary key per row of a page; the people list's own
-- names come first. Erasure deletes the person's row.
CREATE TABLE audit_names (
    account_id  text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id          text NOT NULL,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id)
);
