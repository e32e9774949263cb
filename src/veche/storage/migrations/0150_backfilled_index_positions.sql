-- How far down the backfilled history (stored below the live stream, at positions counting
-- down from 0) the content and search indexes have read; 0 before any.
ALTER TABLE content_index_position ADD COLUMN backfilled_to BIGINT NOT NULL DEFAULT 0;
ALTER TABLE event_search_position ADD COLUMN backfilled_to BIGINT NOT NULL DEFAULT 0;
