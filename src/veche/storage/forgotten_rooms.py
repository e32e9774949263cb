"""Which left rooms each user has forgotten (client-server-api/_index.md "Leaving rooms")."""

from __future__ import annotations

from veche.storage.database import Database

# The forget row counts only while the membership it was made on is still current.
_STILL_FORGOTTEN = (
    "SELECT f.room_id FROM forgotten_rooms f"
    " JOIN rooms r ON r.room_id = f.room_id"
    " JOIN user_ids u ON u.user_id = f.user_id"
    " JOIN room_memberships m ON m.room_nid = r.room_nid AND m.user_nid = u.user_nid"
    " JOIN event_ids e ON e.event_nid = m.event_nid AND e.event_id = f.membership_event_id"
    " WHERE f.user_id = ?"
)


class ForgottenRoomStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def forget(self, user_id: str, room_id: str, membership_event_id: str) -> None:
        await self._db.execute(
            "INSERT INTO forgotten_rooms (user_id, room_id, membership_event_id) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id, room_id) DO UPDATE SET membership_event_id = excluded.membership_event_id",
            user_id,
            room_id,
            membership_event_id,
        )

    async def is_forgotten(self, user_id: str, room_id: str) -> bool:
        row = await self._db.fetchone(_STILL_FORGOTTEN + " AND f.room_id = ?", user_id, room_id)
        return row is not None

    async def forgotten_rooms(self, user_id: str) -> set[str]:
        return {row[0] for row in await self._db.fetchall(_STILL_FORGOTTEN, user_id)}
