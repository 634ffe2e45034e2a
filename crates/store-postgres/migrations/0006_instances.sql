-- The instances sharing this database, for rate limits that hold across them: each
-- `serve` process upserts its row every heartbeat with its demand per rate-limit key
-- (a JSON object of requests per second) and reads the live rows back. A row whose
-- `expires_at` has passed is removed by the next beat of any instance; a graceful
-- shutdown removes its own row.
CREATE TABLE instances (
    id         TEXT COLLATE "C" PRIMARY KEY,
    started_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    demand     TEXT NOT NULL DEFAULT '{}'
);
