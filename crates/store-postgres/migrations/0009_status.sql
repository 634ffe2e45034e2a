-- What `switchboard status` reads beyond the other tables.
--
-- Activity counters in time buckets (webhooks received and refused by reason, token
-- refresh failures by outcome), per integration. Each process adds its in-memory counts
-- every few seconds (one upsert per touched bucket, never one write per request), so the
-- instances sharing the database add up; buckets older than 48 hours are pruned.
CREATE TABLE status_counters (
    integration TEXT COLLATE "C" NOT NULL,
    kind        TEXT COLLATE "C" NOT NULL,
    reason      TEXT COLLATE "C" NOT NULL,
    bucket      BIGINT NOT NULL,
    count       BIGINT NOT NULL,
    PRIMARY KEY (integration, kind, reason, bucket)
);
CREATE INDEX status_counters_bucket ON status_counters (bucket);

-- The last `oauth test` of each integration, for the launch checklist.
CREATE TABLE oauth_tests (
    integration   TEXT COLLATE "C" PRIMARY KEY,
    ok            BOOLEAN NOT NULL,
    failed_checks TEXT NOT NULL DEFAULT '[]',
    tested_at     BIGINT NOT NULL
);
