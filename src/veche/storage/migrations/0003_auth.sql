-- Refresh-token rotation, registration tokens and User-Interactive Authentication sessions.

-- The refresh token issued together with an access token, so that refreshing revokes the
-- access token it replaces.
ALTER TABLE access_tokens ADD COLUMN refresh_token_id BIGINT;
CREATE INDEX access_tokens_refresh ON access_tokens (refresh_token_id);

-- The refresh token this one was issued in exchange for. That older token stays valid
-- until this one (or its access token) is first used, so a client that lost the refresh
-- response can repeat it (client-server-api "Refreshing access tokens").
ALTER TABLE refresh_tokens ADD COLUMN prev_token_id BIGINT;
CREATE INDEX refresh_tokens_prev ON refresh_tokens (prev_token_id);

-- Pre-shared tokens for `m.login.registration_token`.
CREATE TABLE registration_tokens (
    token TEXT PRIMARY KEY,
    -- NULL: unlimited.
    uses_allowed INTEGER,
    completed INTEGER NOT NULL DEFAULT 0,
    -- Milliseconds since the epoch; NULL: never expires.
    expiry_ts BIGINT,
    created_ts BIGINT NOT NULL
);

CREATE TABLE uia_sessions (
    session_id TEXT PRIMARY KEY,
    -- What the session authorises, e.g. "POST /account/password"; a session cannot be
    -- replayed for another action.
    action TEXT NOT NULL,
    -- The authenticated requester, if any; a session cannot change hands.
    user_id TEXT,
    -- JSON: the completed stages in order, each with what it proved.
    completed TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);
CREATE INDEX uia_sessions_created ON uia_sessions (created_ts);
