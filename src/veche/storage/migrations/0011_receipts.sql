-- The latest receipt of each (room, user, receipt type, thread) (modules/receipts.md:
-- such a tuple is associated with a single event ID).

CREATE TABLE receipts (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    receipt_type TEXT NOT NULL,
    -- '' for an unthreaded receipt; 'main' or a thread root's event ID otherwise.
    thread_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    -- The receipted event's stream position, so a receipt only ever moves forward.
    event_stream_ordering BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    stream_id BIGINT NOT NULL UNIQUE,
    PRIMARY KEY (room_id, user_id, receipt_type, thread_id)
);
CREATE INDEX receipts_room_stream ON receipts (room_id, stream_id);
