-- The key an event was routed by (Slack team id, GitHub installation id…), kept so that
-- an event that arrived before its connection existed can be attached later.
ALTER TABLE events ADD COLUMN routing_key TEXT;
