-- Sync reads a room's newest visible events by stream position. As for 0160: without
-- planner statistics an ordered scan of the full (room, stream) index looked no cheaper
-- than reading and sorting all the room's events; on visible events alone it stops early.
CREATE INDEX events_room_stream_visible ON events (room_nid, stream_ordering)
    WHERE rejected_reason IS NULL AND NOT soft_failed AND stream_ordering IS NOT NULL;
