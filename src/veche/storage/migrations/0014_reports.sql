-- Reports of events, rooms and users for the server's administrators
-- (modules/report_content.md).

CREATE TABLE reports (
    report_id {{ID_PK}},
    -- 'event', 'room' or 'user'.
    kind TEXT NOT NULL,
    reporter_id TEXT NOT NULL,
    room_id TEXT,
    event_id TEXT,
    target_user_id TEXT,
    reason TEXT,
    received_ts BIGINT NOT NULL
);
CREATE INDEX reports_received ON reports (received_ts);
