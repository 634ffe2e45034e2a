-- The event pipeline. An event is routed once its mapping is recorded and its deliveries
-- enqueued (one transaction); until then `routed_at` is NULL and a sweep finds it, so an
-- event committed just before a crash is still delivered. Events stored before this
-- migration count as routed: they were never meant for delivery (replay can send them).
ALTER TABLE events ADD COLUMN routed_at INTEGER;
ALTER TABLE events ADD COLUMN mapping_status TEXT
    CHECK (mapping_status IN ('mapped', 'dropped', 'failed'));
ALTER TABLE events ADD COLUMN mapped_type TEXT;
ALTER TABLE events ADD COLUMN mapped_data TEXT;
ALTER TABLE events ADD COLUMN mapping_error TEXT;
UPDATE events SET routed_at = received_at;
CREATE INDEX events_unrouted ON events (id) WHERE routed_at IS NULL;
CREATE INDEX events_mapping_failed ON events (id) WHERE mapping_status = 'failed';

-- One event to one destination: a leased work queue. `lease_fence` is incremented by
-- every claim, release and requeue; writes must present the fence of their claim.
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY NOT NULL,
    event_id        TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    destination     TEXT NOT NULL,
    status          TEXT NOT NULL
        CHECK (status IN ('pending', 'in_flight', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER,
    lease_fence     INTEGER NOT NULL DEFAULT 0,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    UNIQUE (event_id, destination)
);
-- Due work: pending by time, in flight by lease expiry.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_lease ON deliveries (lease_until) WHERE status = 'in_flight';
CREATE INDEX deliveries_destination ON deliveries (destination, status);
CREATE INDEX deliveries_status ON deliveries (status, created_at);

-- Per-destination state: disabled (410 Gone or an operator); no row means enabled.
CREATE TABLE destination_state (
    destination TEXT PRIMARY KEY NOT NULL,
    disabled    INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    reason      TEXT,
    updated_at  INTEGER NOT NULL
);
