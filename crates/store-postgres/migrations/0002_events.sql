-- Received webhooks, kept byte for byte. Ids are `evt_` + UUID v7 hex, so ordering by id
-- is ordering by arrival.
CREATE TABLE events (
    id                TEXT COLLATE "C" PRIMARY KEY,
    integration       TEXT COLLATE "C" NOT NULL,
    received_at       BIGINT NOT NULL,
    provider_event_id TEXT COLLATE "C",
    event_type        TEXT COLLATE "C",
    scheme            TEXT NOT NULL,
    headers           TEXT NOT NULL,          -- JSON array of [name, value]
    body              BYTEA NOT NULL,
    connection_id     TEXT COLLATE "C",
    -- The key the event was routed by (Slack team id, GitHub installation id…).
    routing_key       TEXT COLLATE "C",
    -- The pipeline: an event is routed once its mapping is recorded and its deliveries
    -- enqueued (one transaction); until then `routed_at` is NULL and a sweep finds it.
    routed_at         BIGINT,
    mapping_status    TEXT CHECK (mapping_status IN ('mapped', 'dropped', 'failed')),
    mapped_type       TEXT COLLATE "C",
    -- NULL for a mapped event whose data is its body byte for byte (passed through).
    mapped_data       TEXT,
    mapping_error     TEXT
);
-- Deduplication: one event per provider event id within an integration.
CREATE UNIQUE INDEX events_provider_event_id ON events (integration, provider_event_id)
    WHERE provider_event_id IS NOT NULL;
CREATE INDEX events_integration_id ON events (integration, id);
CREATE INDEX events_unrouted ON events (id) WHERE routed_at IS NULL;
CREATE INDEX events_mapping_failed ON events (id) WHERE mapping_status = 'failed';

-- Per-integration switches; no row means neither blocked nor disabled.
CREATE TABLE integration_state (
    integration TEXT COLLATE "C" PRIMARY KEY,
    blocked     BOOLEAN NOT NULL DEFAULT false,
    disabled    BOOLEAN NOT NULL DEFAULT false,
    updated_at  BIGINT NOT NULL
);
