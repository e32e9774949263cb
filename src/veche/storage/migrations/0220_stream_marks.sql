-- The furthest positions a stream has handed out, kept when the rows holding them are
-- deleted (a room purge deletes its events, receipts and room account data, usually the
-- newest of each), so a restarted server never hands out a position a client has seen.
CREATE TABLE stream_marks (
    -- The table whose stream column the marks are of.
    stream_table TEXT PRIMARY KEY,
    highest BIGINT NOT NULL,
    -- Lowest (for events, backfilled positions count down below 0).
    lowest BIGINT NOT NULL
);
