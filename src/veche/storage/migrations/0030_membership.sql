-- Rooms a user has forgotten (POST /rooms/{roomId}/forget). A row names the membership
-- event that was current when the user forgot the room: the room stays forgotten only
-- while that event is still the user's membership, so a later join, invite or knock,
-- whichever path sends it, brings the room back without this table being touched.
CREATE TABLE forgotten_rooms (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    membership_event_id TEXT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);
