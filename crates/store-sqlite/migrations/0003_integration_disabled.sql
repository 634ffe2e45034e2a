-- An integration can be disabled as a whole (`switchboard integration disable`): it then
-- refuses webhooks (and, later, connects, tokens and proxy calls).
ALTER TABLE integration_state ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
