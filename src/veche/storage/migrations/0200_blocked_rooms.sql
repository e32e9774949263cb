-- Rooms a server admin has blocked (Synapse's admin API): no local user may join them.
CREATE TABLE blocked_rooms (
    room_id TEXT PRIMARY KEY,
    -- The admin who blocked it.
    user_id TEXT NOT NULL,
    blocked_ts BIGINT NOT NULL
);
