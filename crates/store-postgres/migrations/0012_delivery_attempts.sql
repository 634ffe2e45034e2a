-- Every attempt to send a delivery: when it started, how long it took, the HTTP status
-- (none when no answer came), its outcome and at most 1 KiB of the response body
-- (never request headers). Written with the delivery's new state in one statement.
-- `number` counts the recorded attempts of a delivery from 1, on across replays.
-- The rows go with their delivery (the event's deletion cascades) and, since an excerpt
-- may hold personal data, when the event's payload is removed (retention or erasure).
CREATE TABLE delivery_attempts (
    delivery_id TEXT COLLATE "C" NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number      BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    http_status BIGINT,
    outcome     TEXT NOT NULL,
    excerpt     TEXT,
    PRIMARY KEY (delivery_id, number)
);

CREATE FUNCTION delivery_attempts_purge() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM delivery_attempts a USING deliveries d
     WHERE d.event_id = NEW.id AND a.delivery_id = d.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER delivery_attempts_purge AFTER UPDATE OF payload_purged_at ON events
    FOR EACH ROW WHEN (NEW.payload_purged_at IS NOT NULL)
    EXECUTE FUNCTION delivery_attempts_purge();
