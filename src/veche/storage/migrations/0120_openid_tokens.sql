-- OpenID tokens (modules/openid.md): proof of a user's identity for another service, which
-- exchanges it at GET /_matrix/federation/v1/openid/userinfo. Stored hashed like access
-- tokens; each is valid only until expires_ts.

CREATE TABLE openid_tokens (
    token_hash {{BYTES}} PRIMARY KEY,
    user_id TEXT NOT NULL,
    -- Milliseconds since the epoch.
    expires_ts BIGINT NOT NULL
);
CREATE INDEX openid_tokens_expires ON openid_tokens (expires_ts);
