-- The id of the master key that sealed each authorization state's PKCE verifier and
-- nonce, so that `keys rotate` finds the states still under an old key. It is read from
-- the sealed value's own header (vault format 1: a version byte, then the 8-byte key id;
-- shown as lowercase hex like `secrets.key_id`) rather than written by the engine, so it
-- is right for every row, including those written by servers of an earlier version while
-- a rolling upgrade is under way.
ALTER TABLE oauth_states ADD COLUMN key_id TEXT COLLATE "C"
    GENERATED ALWAYS AS (encode(substring(sealed FROM 2 FOR 8), 'hex')) STORED;
