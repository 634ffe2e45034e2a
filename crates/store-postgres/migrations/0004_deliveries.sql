-- One event to one destination: a leased work queue. `lease_fence` is incremented by
-- every claim, release and requeue; writes must present the fence of their claim.
-- Claims lock rows with FOR UPDATE SKIP LOCKED, so instances never wait on each other.
CREATE TABLE deliveries (
    id              TEXT COLLATE "C" PRIMARY KEY,
    event_id        TEXT COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    destination     TEXT COLLATE "C" NOT NULL,
    status          TEXT COLLATE "C" NOT NULL
        CHECK (status IN ('pending', 'in_flight', 'delivered', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    lease_fence     BIGINT NOT NULL DEFAULT 0,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    UNIQUE (event_id, destination)
);
-- Due work: pending by time, in flight by lease expiry.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_lease ON deliveries (lease_until) WHERE status = 'in_flight';
CREATE INDEX deliveries_destination ON deliveries (destination, status);
CREATE INDEX deliveries_status ON deliveries (status, created_at);

-- Per-destination state: disabled (410 Gone or an operator); no row means enabled.
CREATE TABLE destination_state (
    destination TEXT COLLATE "C" PRIMARY KEY,
    disabled    BOOLEAN NOT NULL DEFAULT false,
    reason      TEXT,
    updated_at  BIGINT NOT NULL
);
