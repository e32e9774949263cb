-- What the Client-Server API keeps about rooms beyond their events.

-- Room aliases of this server (#alias:server → room).
CREATE TABLE room_aliases (
    room_alias TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    creator TEXT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);

-- Rooms published in this server's public room directory.
CREATE TABLE room_directory (
    room_id TEXT PRIMARY KEY,
    published_ts BIGINT NOT NULL
);

-- Client transaction IDs (PUT /send/{type}/{txnId}): the event a device's transaction made,
-- so a retried request returns the same event instead of sending it twice.
CREATE TABLE client_transactions (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);
CREATE INDEX client_transactions_event ON client_transactions (event_id);
