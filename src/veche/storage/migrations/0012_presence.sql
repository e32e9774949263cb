-- The latest presence of each user we know of (modules/presence.md).

CREATE TABLE presence (
    user_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    status_msg TEXT,
    -- Milliseconds since the epoch of the user's last pro-active action.
    last_active_ts BIGINT NOT NULL,
    stream_id BIGINT NOT NULL UNIQUE
);
