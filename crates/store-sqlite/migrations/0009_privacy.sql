-- Personal data: payload retention and erasure, consent records.
--
-- An event whose payload was removed keeps its metadata; its body is empty, its kept
-- headers `[]`, its mapped data and mapping error NULL, and these say when and why.
ALTER TABLE events ADD COLUMN payload_purged_at INTEGER;
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
    id               TEXT PRIMARY KEY NOT NULL,
    connection_id    TEXT,
    end_user_id      TEXT,
    subject_hash     TEXT,
    integration      TEXT NOT NULL,
    kind             TEXT NOT NULL
        CHECK (kind IN ('connect', 'reconnect', 'scope_loss', 'revoke', 'erasure')),
    scopes_requested TEXT NOT NULL,          -- JSON array
    scopes_granted   TEXT NOT NULL,          -- JSON array
    connect_session  TEXT,
    return_origin    TEXT,
    at               INTEGER NOT NULL
);
CREATE INDEX consent_records_end_user ON consent_records (end_user_id, id)
    WHERE end_user_id IS NOT NULL;

-- One row per erased end user: the keyed hash of the id, when, and counts of what went.
CREATE TABLE erasures (
    subject_hash TEXT PRIMARY KEY NOT NULL,
    erased_at    INTEGER NOT NULL,
    counts       TEXT NOT NULL               -- JSON object
);
