-- Every attempt to send a delivery: when it started, how long it took, the HTTP status
-- (none when no answer came), its outcome and at most 1 KiB of the response body
-- (never request headers). Written with the delivery's new state in one transaction.
-- `number` counts the recorded attempts of a delivery from 1, on across replays.
-- The rows go with their delivery (the event's deletion cascades) and, since an excerpt
-- may hold personal data, when the event's payload is removed (retention or erasure).
CREATE TABLE delivery_attempts (
    delivery_id TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    http_status INTEGER,
    outcome     TEXT NOT NULL,
    excerpt     TEXT,
    PRIMARY KEY (delivery_id, number)
) WITHOUT ROWID;

CREATE TRIGGER delivery_attempts_purge AFTER UPDATE OF payload_purged_at ON events
WHEN NEW.payload_purged_at IS NOT NULL
BEGIN
    DELETE FROM delivery_attempts
     WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_id = NEW.id);
END;
