-- When the current access token was obtained (its lifetime is expires_at minus this), so
-- that a token living shorter than the refresh margin is still served once obtained;
-- and credential health checks: when a connection's credentials were last tried at the
-- provider, with what result, and when they are next due (a claim: whoever moves it
-- checks the connection, once across every instance sharing the database).
ALTER TABLE connections ADD COLUMN token_obtained_at BIGINT;
ALTER TABLE connections ADD COLUMN health_checked_at BIGINT;
ALTER TABLE connections ADD COLUMN health_result TEXT;
ALTER TABLE connections ADD COLUMN health_detail TEXT;
ALTER TABLE connections ADD COLUMN health_next_at BIGINT;
UPDATE connections SET token_obtained_at = COALESCE(last_refresh_at, updated_at)
    WHERE expires_at IS NOT NULL;
CREATE INDEX connections_health_due ON connections (integration, health_next_at)
    WHERE status = 'active';

-- A health-check claim (health_next_at) is bookkeeping like the refresh lease: nothing a
-- reader keeps changes, so it is not announced.
DROP TRIGGER connections_notify_update ON connections;
CREATE TRIGGER connections_notify_update AFTER UPDATE ON connections
    FOR EACH ROW
    WHEN ((to_jsonb(OLD) - 'lease_fence' - 'lease_until' - 'health_next_at')
          IS DISTINCT FROM (to_jsonb(NEW) - 'lease_fence' - 'lease_until' - 'health_next_at'))
    EXECUTE FUNCTION switchboard_notify_row('connection', 'id');
