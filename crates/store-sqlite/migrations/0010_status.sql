-- What `switchboard status` reads beyond the other tables.
--
-- Activity counters in time buckets (webhooks received and refused by reason, token
-- refresh failures by outcome), per integration. Each process adds its in-memory counts
-- every few seconds (one upsert per touched bucket, never one write per request), so the
-- processes sharing the database add up; buckets older than 48 hours are pruned.
CREATE TABLE status_counters (
    integration TEXT NOT NULL,
    kind        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (integration, kind, reason, bucket)
) WITHOUT ROWID;
CREATE INDEX status_counters_bucket ON status_counters (bucket);

-- The last `oauth test` of each integration, for the launch checklist.
CREATE TABLE oauth_tests (
    integration   TEXT PRIMARY KEY NOT NULL,
    ok            INTEGER NOT NULL CHECK (ok IN (0, 1)),
    failed_checks TEXT NOT NULL DEFAULT '[]',
    tested_at     INTEGER NOT NULL
);
