-- When the current access token was obtained (its lifetime is expires_at minus this), so
-- that a token living shorter than the refresh margin is still served once obtained;
-- and credential health checks: when a connection's credentials were last tried at the
-- provider, with what result, and when they are next due (a claim: whoever moves it
-- checks the connection, once across every process sharing the database).
ALTER TABLE connections ADD COLUMN token_obtained_at INTEGER;
ALTER TABLE connections ADD COLUMN health_checked_at INTEGER;
ALTER TABLE connections ADD COLUMN health_result TEXT;
ALTER TABLE connections ADD COLUMN health_detail TEXT;
ALTER TABLE connections ADD COLUMN health_next_at INTEGER;
-- Rows written before: the last refresh, else the last write of the row (never later
-- than the tokens it holds were obtained by more than the failures since).
UPDATE connections SET token_obtained_at = COALESCE(last_refresh_at, updated_at)
    WHERE expires_at IS NOT NULL;
CREATE INDEX connections_health_due ON connections (integration, health_next_at)
    WHERE status = 'active';
