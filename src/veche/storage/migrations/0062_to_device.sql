-- Send-to-device messages waiting for their device (modules/send_to_device.md): kept
-- until the device's /sync acknowledges a token at or past the message's position.
CREATE TABLE to_device_messages (
    stream_id BIGINT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    -- UTF-8 JSON of the event as /sync shows it: {"sender", "type", "content"}.
    message_json TEXT NOT NULL
);
CREATE INDEX to_device_messages_inbox ON to_device_messages (user_id, device_id, stream_id);

-- Transaction IDs already used by a sending device, so a retried PUT sends nothing twice.
CREATE TABLE to_device_transactions (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

-- The highest position ever allocated, kept when acknowledged messages are deleted, so
-- that a restart never hands out a position a client's token has already passed.
CREATE TABLE to_device_stream_mark (
    singleton INTEGER NOT NULL PRIMARY KEY CHECK (singleton = 1),
    position BIGINT NOT NULL
);
INSERT INTO to_device_stream_mark (singleton, position) VALUES (1, 0);
