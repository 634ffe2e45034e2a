-- Where the last verification of the audit chain ended (one row, or none: never verified,
-- or found broken), so that a check need only read the rows added since: the last row
-- verified and its hash, the end and time of the last walk of the whole chain, and the
-- time of the last check.
CREATE TABLE audit_checkpoint (
    id         INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq        INTEGER NOT NULL,
    hash       TEXT NOT NULL,
    full_seq   INTEGER NOT NULL,
    full_at    INTEGER NOT NULL,
    checked_at INTEGER NOT NULL
);
