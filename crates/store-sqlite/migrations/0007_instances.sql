-- The instances sharing this database, for rate limits that hold across them: each
-- `serve` process upserts its row every heartbeat with its demand per rate-limit key
-- (a JSON object of requests per second) and reads the live rows back. A row whose
-- `expires_at` has passed is removed by the next beat of any instance; a graceful
-- shutdown removes its own row.
CREATE TABLE instances (
    id         TEXT PRIMARY KEY NOT NULL,
    started_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    demand     TEXT NOT NULL DEFAULT '{}'
);
