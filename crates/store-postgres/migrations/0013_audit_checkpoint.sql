-- Where the last verification of the audit chain ended (one row, or none: never verified,
-- or found broken), so that a check need only read the rows added since: the last row
-- verified and its hash, the end and time of the last walk of the whole chain, and the
-- time of the last check.
CREATE TABLE audit_checkpoint (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL,
    full_seq   BIGINT NOT NULL,
    full_at    BIGINT NOT NULL,
    checked_at BIGINT NOT NULL
);
