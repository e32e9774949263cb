-- Device lists of users on other servers, as their servers' GET /user/devices answered
-- (server-server user_devices.yaml), kept while this server shares a room with them and so
-- hears of every change (m.device_list_update); a change drops the row until asked again.
CREATE TABLE remote_device_lists (
    user_id TEXT PRIMARY KEY,
    stream_id BIGINT NOT NULL,
    -- The whole answer, JSON: devices with keys and display names, cross-signing keys.
    answer TEXT NOT NULL,
    fetched_ts BIGINT NOT NULL
);
