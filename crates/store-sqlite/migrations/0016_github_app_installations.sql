-- The provider-side time as of which a connection's GitHub App installation state
-- (suspended or not) is known: installation webhooks delivered out of order change a
-- connection only when they are newer than it (a compare-and-set under the refresh
-- lease). Milliseconds since the epoch; NULL until the first lifecycle webhook.
ALTER TABLE connections ADD COLUMN lifecycle_at INTEGER;

-- Connections of a GitHub App made through a custom provider (`[[providers]]` with
-- auth_mode = "github_app") before such providers routed webhooks by installation have
-- no routing key, so no installation webhook ever reached them. Their key is their
-- installation id (settings.installation_id), the key such a connection gets today.
-- Rows without a numeric installation id, or with settings that are not JSON, are left
-- as they are.
UPDATE connections
   SET routing_key = k.installation
  FROM (SELECT id,
               CASE WHEN json_valid(settings)
                    THEN json_extract(settings, '$.installation_id') END AS installation
          FROM connections
         WHERE auth_mode = 'github_app' AND routing_key IS NULL) AS k
 WHERE connections.id = k.id
   AND typeof(k.installation) = 'text'
   AND length(k.installation) BETWEEN 1 AND 20
   AND k.installation NOT GLOB '*[^0-9]*';
