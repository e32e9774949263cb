-- Server-side search (client-server-api/modules/search.md) over content.body of
-- m.room.message, content.name of m.room.name and content.topic (plus the text/plain
-- m.topic body) of m.room.topic. Filled from the event stream by storage/search.py.

CREATE TABLE event_search (
    event_nid BIGINT PRIMARY KEY REFERENCES events (event_nid),
    room_nid BIGINT NOT NULL REFERENCES rooms (room_nid),
    -- 'content.body', 'content.name' or 'content.topic'
    search_key TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    origin_server_ts BIGINT NOT NULL,
    -- The searchable text on SQLite (its FTS5 index reads it through external content).
    value TEXT NOT NULL
);
CREATE INDEX event_search_room_stream ON event_search (room_nid, stream_ordering);

{{ONLY_SQLITE}} CREATE VIRTUAL TABLE event_search_fts USING fts5(
    value, content='event_search', content_rowid='event_nid', tokenize='porter unicode61'
);

{{ONLY_POSTGRES}} ALTER TABLE event_search ADD COLUMN vector TSVECTOR;
{{ONLY_POSTGRES}} CREATE INDEX event_search_vector ON event_search USING GIN (vector);

-- How far (in stream positions) the index has taken in the event stream.
CREATE TABLE event_search_position (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    stream_ordering BIGINT NOT NULL
);
INSERT INTO event_search_position (id, stream_ordering) VALUES (1, 0);
