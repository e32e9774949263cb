-- The push actions in a thread other than the main timeline, which are few: unread counts
-- count a room's main-timeline actions from the user's read position there by a range of
-- the primary key, and its threads' actions from this index (storage/push_actions.py).
CREATE INDEX event_push_actions_threaded ON event_push_actions (user_id, room_id, stream_ordering)
    WHERE thread_id <> 'main';
