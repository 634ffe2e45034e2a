-- The admin console: signed-in sessions and OpenID Connect sign-ins in flight. Only
-- SHA-256 hashes of the session id and of the sign-in state are kept; the browser holds
-- the values. Not copied by `db copy`: admins sign in again on the new database.
CREATE TABLE console_sessions (
    id_hash      BLOB PRIMARY KEY NOT NULL,
    actor        TEXT NOT NULL,
    display_name TEXT NOT NULL,
    api_key_id   TEXT,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

CREATE TABLE console_logins (
    state_hash   BLOB PRIMARY KEY NOT NULL,
    browser_hash BLOB NOT NULL,
    next         TEXT NOT NULL,
    expires_at   INTEGER NOT NULL
) WITHOUT ROWID;
