-- The device-list stream: a row whenever a user's devices or cross-signing keys change,
-- so /sync and /keys/changes can name the users whose keys a client must query again.
CREATE TABLE device_list_changes (
    stream_id BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (stream_id, user_id)
);
CREATE INDEX device_list_changes_user ON device_list_changes (user_id, stream_id);
