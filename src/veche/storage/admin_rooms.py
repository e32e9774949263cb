"""What the admin API reads about rooms in bulk (their counts, for listings) and the rooms
admins have blocked (migrations/0200_blocked_rooms.sql)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from veche.storage.database import Database


@dataclass(frozen=True, slots=True)
class RoomCounts:
    room_id: str
    version: str | None
    state_events: int
    joined_members: int
    joined_local_members: int


class RoomAdminStore:
    def __init__(self, db: Database, server_name: str) -> None:
        self._db = db
        self._local_suffix = ":" + server_name

    async def list_rooms(self, room_id: str | None = None) -> list[RoomCounts]:
        """Every room this server holds state of (or only `room_id`), with its counts, in one
        statement."""
        where = "r.current_snapshot_nid IS NOT NULL"
        # Server names hold no LIKE wildcards (appendices.md, "Server Name").
        args: list[object] = ["%" + self._local_suffix]
        if room_id is not None:
            where += " AND r.room_id = ?"
            args.append(room_id)
        rows = await self._db.fetchall(
            "SELECT r.room_id, r.room_version,"
            " (SELECT COUNT(*) FROM current_state c WHERE c.room_nid = r.room_nid),"
            " (SELECT COUNT(*) FROM room_memberships m WHERE m.room_nid = r.room_nid AND m.membership = 'join'),"
            " (SELECT COUNT(*) FROM room_memberships m JOIN user_ids u ON u.user_nid = m.user_nid"
            "  WHERE m.room_nid = r.room_nid AND m.membership = 'join' AND u.user_id LIKE ?)"
            f" FROM rooms r WHERE {where}",
            *args,
        )
        return [RoomCounts(*row) for row in rows]

    async def block(self, room_id: str, user_id: str) -> None:
        await self._db.execute(
            "INSERT INTO blocked_rooms (room_id, user_id, blocked_ts) VALUES (?, ?, ?)"
            " ON CONFLICT (room_id) DO NOTHING",
            room_id,
            user_id,
            int(time.time() * 1000),
        )

    async def unblock(self, room_id: str) -> None:
        await self._db.execute("DELETE FROM blocked_rooms WHERE room_id = ?", room_id)

    async def blocked_by(self, room_id: str) -> str | None:
        """The admin who blocked the room, or None if it is not blocked."""
        return await self._db.fetchval("SELECT user_id FROM blocked_rooms WHERE room_id = ?", room_id)
