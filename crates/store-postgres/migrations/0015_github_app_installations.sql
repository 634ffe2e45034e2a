-- The provider-side time as of which a connection's GitHub App installation state
-- (suspended or not) is known: installation webhooks delivered out of order change a
-- connection only when they are newer than it (a compare-and-set under the refresh
-- lease). Milliseconds since the epoch; NULL until the first lifecycle webhook.
ALTER TABLE connections ADD COLUMN lifecycle_at BIGINT;
