-- Connections: one end user's credentials for one integration. The credentials
-- themselves are sealed in `secrets` (owner 'connections', name 'credentials') and written
-- in the same transaction as the row.
CREATE TABLE connections (
    id               TEXT COLLATE "C" PRIMARY KEY,
    integration      TEXT COLLATE "C" NOT NULL,
    provider         TEXT NOT NULL,
    end_user_id      TEXT COLLATE "C" NOT NULL,
    auth_mode        TEXT NOT NULL,
    status           TEXT COLLATE "C" NOT NULL
        CHECK (status IN ('active', 'needs_reauth', 'revoked', 'error')),
    scopes           TEXT NOT NULL,          -- JSON array
    missing_scopes   TEXT NOT NULL,          -- JSON array
    settings         TEXT NOT NULL,          -- JSON object of strings
    routing_key      TEXT COLLATE "C",
    expires_at       BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    last_refresh_at  BIGINT,
    last_error       TEXT,
    refresh_failures BIGINT NOT NULL DEFAULT 0,
    next_refresh_at  BIGINT,
    -- Incremented by every write of the credentials.
    token_version    BIGINT NOT NULL DEFAULT 1,
    -- Refresh lease: incremented by every acquisition; a commit must present it.
    lease_fence      BIGINT NOT NULL DEFAULT 0,
    lease_until      BIGINT
);
CREATE INDEX connections_integration ON connections (integration, id);
CREATE INDEX connections_end_user ON connections (end_user_id, id);
CREATE INDEX connections_due ON connections (next_refresh_at) WHERE status = 'active';
CREATE INDEX connections_routing ON connections (integration, routing_key)
    WHERE routing_key IS NOT NULL;

-- Short-lived permissions for one end user to connect integrations; the token is kept
-- as its SHA-256 only.
CREATE TABLE connect_sessions (
    token_hash    BYTEA PRIMARY KEY,
    end_user_id   TEXT NOT NULL,
    integrations  TEXT NOT NULL,             -- JSON array
    connection_id TEXT,
    return_to     TEXT,
    opener_origin TEXT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX connect_sessions_expiry ON connect_sessions (expires_at);

-- Authorizations in flight, keyed by the SHA-256 of `state`; deleted when used.
CREATE TABLE oauth_states (
    state_hash    BYTEA PRIMARY KEY,
    integration   TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    end_user_id   TEXT NOT NULL,
    session_hash  BYTEA NOT NULL,
    return_to     TEXT,
    opener_origin TEXT,
    settings      TEXT NOT NULL,
    sealed        BYTEA NOT NULL,            -- PKCE verifier and nonce (vault)
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX oauth_states_expiry ON oauth_states (expires_at);
