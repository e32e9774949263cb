-- /messages reads a room's visible events in topological order. Without planner statistics
-- (PostgreSQL before any ANALYZE) the planner guessed that hardly any row of the full
-- (room, depth, stream) index is visible, so sorting them looked cheaper than an ordered
-- scan, and it read and sorted every event below the token; on an index of visible events
-- alone an ordered scan stops after the page.
CREATE INDEX events_room_topological_visible ON events (room_nid, depth, stream_ordering)
    WHERE rejected_reason IS NULL AND NOT soft_failed AND stream_ordering IS NOT NULL;
