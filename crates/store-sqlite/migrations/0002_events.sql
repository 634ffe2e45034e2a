-- Received webhooks, kept byte for byte. Ids are `evt_` + UUID v7 hex, so ordering by id
-- is ordering by arrival.
CREATE TABLE events (
    id                TEXT PRIMARY KEY NOT NULL,
    integration       TEXT NOT NULL,
    received_at       INTEGER NOT NULL,
    provider_event_id TEXT,
    event_type        TEXT,
    scheme            TEXT NOT NULL,
    headers           TEXT NOT NULL,
    body              BLOB NOT NULL,
    connection_id     TEXT
);
-- Deduplication: one event per provider event id within an integration.
CREATE UNIQUE INDEX events_provider_event_id ON events (integration, provider_event_id)
    WHERE provider_event_id IS NOT NULL;
CREATE INDEX events_integration_id ON events (integration, id);

-- Per-integration intake state (blocked or not); no row means not blocked.
CREATE TABLE integration_state (
    integration TEXT PRIMARY KEY NOT NULL,
    blocked     INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
    updated_at  INTEGER NOT NULL
);
