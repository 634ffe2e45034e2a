-- Change notifications for the other instances sharing this schema (the store's change
-- feed, `store::changes`): what they cache or wait for is announced with pg_notify,
-- which PostgreSQL delivers when (and only if) the transaction commits, so a woken
-- instance always finds the row. Notifications are hints: a reader drops what it kept
-- and reads again; polling and cache TTLs remain the backstop.
--
-- One channel per schema: channels are database-wide, and several deployments (or test
-- runs) may share a database in schemas of their own. The name is 'switchboard_' and
-- the MD5 of the table's schema (44 bytes, under the 63-byte identifier limit whatever
-- the schema is called); the listener computes it with switchboard_channel() on its own
-- connection, whose current schema is the one the tables were created in.
--
-- Payloads are 'kind:id' (deliveries:, connection:<id>, api_key:<id>,
-- integration:<id>, destination:<id>); an id too long for a payload (8000 bytes) is
-- announced as 'resync:' (everything may have changed) rather than failing the write.
-- Identical notifications of one transaction are delivered once.

CREATE FUNCTION switchboard_channel(schema_name text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT 'switchboard_' || md5(schema_name) $$;

-- Row triggers: TG_ARGV[0] is the kind, TG_ARGV[1] the column holding the id.
CREATE FUNCTION switchboard_notify_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    id text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        id := to_jsonb(OLD) ->> TG_ARGV[1];
    ELSE
        id := to_jsonb(NEW) ->> TG_ARGV[1];
    END IF;
    PERFORM pg_notify('switchboard_' || md5(TG_TABLE_SCHEMA),
        CASE WHEN octet_length(id) > 7000 THEN 'resync:' ELSE TG_ARGV[0] || ':' || id END);
    RETURN NULL;
END;
$$;

-- Deliveries became due: one notification per transaction.
CREATE FUNCTION switchboard_notify_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('switchboard_' || md5(TG_TABLE_SCHEMA), 'deliveries:');
    RETURN NULL;
END;
$$;

-- Deliveries inserted by a statement (intake's group commit, the worker's routing): one
-- notification if it inserted any. Every intake batch runs the INSERT, with or without
-- deliveries, so the statement's new rows are looked at first.
CREATE FUNCTION switchboard_notify_deliveries_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM added) THEN
        PERFORM pg_notify('switchboard_' || md5(TG_TABLE_SCHEMA), 'deliveries:');
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER deliveries_notify_insert AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION switchboard_notify_deliveries_added();

-- Put back to pending with a new fence: a release (a claim given back) or a replay's
-- requeue. A failed attempt's retry (pending again, same fence) is not announced: the
-- worker that made the attempt scheduled it, and any other finds it by polling.
CREATE TRIGGER deliveries_notify_requeue AFTER UPDATE OF status ON deliveries
    FOR EACH ROW
    WHEN (NEW.status = 'pending' AND OLD.status <> 'pending'
          AND NEW.lease_fence <> OLD.lease_fence)
    EXECUTE FUNCTION switchboard_notify_deliveries();

-- Connections: any change but the refresh lease's own columns (taking and giving back
-- the lease changes nothing a reader keeps).
CREATE TRIGGER connections_notify_write AFTER INSERT OR DELETE ON connections
    FOR EACH ROW EXECUTE FUNCTION switchboard_notify_row('connection', 'id');
CREATE TRIGGER connections_notify_update AFTER UPDATE ON connections
    FOR EACH ROW
    WHEN ((to_jsonb(OLD) - 'lease_fence' - 'lease_until')
          IS DISTINCT FROM (to_jsonb(NEW) - 'lease_fence' - 'lease_until'))
    EXECUTE FUNCTION switchboard_notify_row('connection', 'id');

-- API keys: any change but the last use (written at most once a minute per key).
CREATE TRIGGER api_keys_notify_delete AFTER DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION switchboard_notify_row('api_key', 'id');
CREATE TRIGGER api_keys_notify_update AFTER UPDATE ON api_keys
    FOR EACH ROW
    WHEN ((to_jsonb(OLD) - 'last_used_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_used_at'))
    EXECUTE FUNCTION switchboard_notify_row('api_key', 'id');

-- Integration switches (blocked, disabled).
CREATE TRIGGER integration_state_notify AFTER INSERT OR UPDATE OR DELETE ON integration_state
    FOR EACH ROW EXECUTE FUNCTION switchboard_notify_row('integration', 'integration');

-- Destination state (disabled by a 410 or an operator, enabled again).
CREATE TRIGGER destination_state_notify AFTER INSERT OR UPDATE OR DELETE ON destination_state
    FOR EACH ROW EXECUTE FUNCTION switchboard_notify_row('destination', 'destination');
