-- The provider-side time as of which a connection's GitHub App installation state
-- (suspended or not) is known: installation webhooks delivered out of order change a
-- connection only when they are newer than it (a compare-and-set under the refresh
-- lease). Milliseconds since the epoch; NULL until the first lifecycle webhook.
ALTER TABLE connections ADD COLUMN lifecycle_at BIGINT;

-- Connections of a GitHub App made through a custom provider (`[[providers]]` with
-- auth_mode = "github_app") before such providers routed webhooks by installation have
-- no routing key, so no installation webhook ever reached them. Their key is their
-- installation id (settings.installation_id), the key such a connection gets today.
-- Rows without a numeric installation id, or with settings that are not JSON, are left
-- as they are (a row whose settings do not parse is skipped, not a failed migration).
DO $$
DECLARE
    r RECORD;
    j JSONB;
    installation TEXT;
BEGIN
    FOR r IN SELECT id, settings FROM connections
              WHERE auth_mode = 'github_app' AND routing_key IS NULL LOOP
        BEGIN
            j := r.settings::jsonb;
        EXCEPTION WHEN others THEN
            j := NULL;
        END;
        installation := CASE WHEN jsonb_typeof(j -> 'installation_id') = 'string'
                             THEN j ->> 'installation_id' END;
        IF installation ~ '^[0-9]{1,20}$' THEN
            UPDATE connections SET routing_key = installation WHERE id = r.id;
        END IF;
    END LOOP;
END
$$;
