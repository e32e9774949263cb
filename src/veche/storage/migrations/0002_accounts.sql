-- Local accounts, their devices, and the tokens that authenticate them.
-- Tokens are stored only as the SHA-256 of the random token, so a database leak does
-- not hand out sessions.

CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    -- argon2id PHC string; NULL for accounts that cannot log in with a password (guests).
    password_hash TEXT,
    is_admin BOOLEAN NOT NULL DEFAULT FALSE,
    is_guest BOOLEAN NOT NULL DEFAULT FALSE,
    -- A deactivated account keeps its row so that its user ID is never handed out again.
    deactivated BOOLEAN NOT NULL DEFAULT FALSE,
    created_ts BIGINT NOT NULL
);

CREATE TABLE devices (
    user_id TEXT NOT NULL REFERENCES users (user_id),
    device_id TEXT NOT NULL,
    display_name TEXT,
    last_seen_ts BIGINT,
    last_seen_ip TEXT,
    PRIMARY KEY (user_id, device_id)
);

CREATE TABLE access_tokens (
    token_id {{ID_PK}},
    token_hash {{BYTES}} NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    -- NULL: never expires.
    expires_ts BIGINT,
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id)
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id);

CREATE TABLE refresh_tokens (
    token_id {{ID_PK}},
    token_hash {{BYTES}} NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    expires_ts BIGINT,
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id)
);
CREATE INDEX refresh_tokens_device ON refresh_tokens (user_id, device_id);
