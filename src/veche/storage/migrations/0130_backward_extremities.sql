-- Events cited as prev_events by timeline events of a room that this server does not hold
-- in its timeline (missing, or only held as outliers): where the room's known history has
-- holes, so where backfilling from other servers starts (server-server-api.md,
-- "Backfilling and retrieving missing events").
CREATE TABLE backward_extremities (
    room_nid BIGINT NOT NULL REFERENCES rooms (room_nid),
    event_nid BIGINT NOT NULL REFERENCES event_ids (event_nid),
    PRIMARY KEY (room_nid, event_nid)
) {{WITHOUT_ROWID}};

-- The holes of rooms joined before this table existed.
INSERT INTO backward_extremities (room_nid, event_nid)
SELECT DISTINCT e.room_nid, x.prev_event_nid FROM event_edges x
JOIN events e ON e.event_nid = x.event_nid
WHERE NOT e.outlier AND NOT EXISTS (
    SELECT 1 FROM events p WHERE p.event_nid = x.prev_event_nid AND NOT p.outlier
);
