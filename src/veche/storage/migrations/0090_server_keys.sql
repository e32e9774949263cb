-- Other servers' signing keys, fetched directly or through notaries (server-server-api.md
-- "Retrieving server keys"). One row per key; the key response it came from is kept whole
-- so that this server can serve it again as a notary.
CREATE TABLE server_keys (
    server_name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    -- Unpadded base64 of the ed25519 public key.
    verify_key TEXT NOT NULL,
    -- Signatures made after this are not trusted: for a current key the lesser of the
    -- response's valid_until_ts and 7 days after fetching, for an old key its expired_ts.
    valid_until_ts BIGINT NOT NULL,
    -- Listed in old_verify_keys: valid for old events only, never for requests.
    expired BOOLEAN NOT NULL,
    -- The response's own valid_until_ts: a response fresher than the stored one replaces it.
    response_valid_until_ts BIGINT NOT NULL,
    fetched_ts BIGINT NOT NULL,
    -- The server that answered: the key's owner, or a notary.
    source TEXT NOT NULL,
    response_json TEXT NOT NULL,
    PRIMARY KEY (server_name, key_id)
) {{WITHOUT_ROWID}};
