-- Per-user account data, global and per room (client-server-api modules/account_data.md).
-- Room tags and the fully read marker are room account data too (m.tag, m.fully_read).
-- One row per (user, room, type), replaced in place: only the latest content matters, and
-- its stream_id tells /sync whether the row changed since a token.

CREATE TABLE account_data (
    user_id TEXT NOT NULL,
    -- '' for global account data, so that the primary key needs no NULL.
    room_id TEXT NOT NULL,
    data_type TEXT NOT NULL,
    -- UTF-8 JSON of the content object.
    content TEXT NOT NULL,
    stream_id BIGINT NOT NULL UNIQUE,
    PRIMARY KEY (user_id, room_id, data_type)
);
CREATE INDEX account_data_user_stream ON account_data (user_id, stream_id);
