-- Personal data: payload retention and erasure, consent records (SQLite 0009).
--
-- An event whose payload was removed keeps its metadata; its body is empty, its kept
-- headers `[]`, its mapped data and mapping error NULL, and these say when and why.
ALTER TABLE events ADD COLUMN payload_purged_at BIGINT;
ALTER TABLE events ADD COLUMN purge_reason TEXT
    CHECK (purge_reason IN ('retention', 'erasure'));
-- The retention sweep's work list: events whose payload is still there, by age.
CREATE INDEX events_unpurged ON events (integration, received_at)
    WHERE payload_purged_at IS NULL;
-- An end user's events (export, erasure), through their connections.
CREATE INDEX events_connection ON events (connection_id, id) WHERE connection_id IS NOT NULL;

-- Each change of a connection's consent: granted, granted again, scopes lost, revoked,
-- erased. An erased end user's records keep only `subject_hash` (a keyed hash of the
-- end user id) and what is not personal (integration, kind, scopes, time).
CREATE TABLE consent_records (
    id               TEXT COLLATE "C" PRIMARY KEY,
    connection_id    TEXT COLLATE "C",
    end_user_id      TEXT COLLATE "C",
    subject_hash     TEXT COLLATE "C",
    integration      TEXT COLLATE "C" NOT NULL,
    kind             TEXT NOT NULL
        CHECK (kind IN ('connect', 'reconnect', 'scope_loss', 'revoke', 'erasure')),
    scopes_requested TEXT NOT NULL,          -- JSON array
    scopes_granted   TEXT NOT NULL,          -- JSON array
    connect_session  TEXT,
    return_origin    TEXT,
    at               BIGINT NOT NULL
);
CREATE INDEX consent_records_end_user ON consent_records (end_user_id, id)
    WHERE end_user_id IS NOT NULL;

-- One row per erased end user: the keyed hash of the id, when, and counts of what went.
CREATE TABLE erasures (
    subject_hash TEXT COLLATE "C" PRIMARY KEY,
    erased_at    BIGINT NOT NULL,
    counts       TEXT NOT NULL               -- JSON object
);
