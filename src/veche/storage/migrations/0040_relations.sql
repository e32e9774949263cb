-- What clients are served alongside events: redactions and relations, derived from event
-- content (see storage/content_index.py), and an index for /timestamp_to_event.

-- A redaction event and the event ID it names. Whether it applies is decided when the
-- target is served (the rules need both events: rooms/fragments/v3-handling-redactions.md).
CREATE TABLE event_redactions (
    redaction_nid BIGINT PRIMARY KEY REFERENCES events (event_nid),
    room_nid BIGINT NOT NULL REFERENCES rooms (room_nid),
    target_id TEXT NOT NULL
);
CREATE INDEX event_redactions_target ON event_redactions (target_id);

-- An event's `m.relates_to` with a `rel_type` (the parent may be unknown to us).
CREATE TABLE event_relations (
    event_nid BIGINT PRIMARY KEY REFERENCES events (event_nid),
    room_nid BIGINT NOT NULL REFERENCES rooms (room_nid),
    parent_id TEXT NOT NULL,
    rel_type TEXT NOT NULL
);
CREATE INDEX event_relations_parent ON event_relations (parent_id, rel_type);
CREATE INDEX event_relations_room ON event_relations (room_nid, rel_type);

-- How far (in stream positions) the two tables above have been filled.
CREATE TABLE content_index_position (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    stream_ordering BIGINT NOT NULL
);
INSERT INTO content_index_position (id, stream_ordering) VALUES (1, 0);

CREATE INDEX events_room_ts ON events (room_nid, origin_server_ts);
