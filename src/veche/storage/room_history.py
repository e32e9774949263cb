"""Reads over a room's past that the event store does not offer: a user's membership
history, events by timestamp, and the event at a place in the topological order."""

from __future__ import annotations

from typing import Literal

from veche.storage.database import Database
from veche.storage.events import TopologicalToken
from veche.storage.rooms import RoomStore

# The same timeline condition as the event store's: what clients may be served.
_VISIBLE = "e.rejected_reason IS NULL AND NOT e.soft_failed AND e.stream_ordering IS NOT NULL"


class RoomHistoryStore:
    def __init__(self, db: Database, rooms: RoomStore) -> None:
        self._db = db
        self._rooms = rooms

    async def member_events_of(self, room_id: str, user_id: str) -> list[tuple[str, int]]:
        """(event ID, stream position) of every timeline m.room.member event about `user_id`,
        oldest first."""
        room_nid = await self._rooms.get_room_nid(room_id)
        if room_nid is None:
            return []
        rows = await self._db.fetchall(
            "SELECT i.event_id, e.stream_ordering FROM events e"
            " JOIN state_keys k ON k.state_key_nid = e.state_key_nid"
            " JOIN event_ids i ON i.event_nid = e.event_nid"
            f" WHERE e.room_nid = ? AND k.event_type = 'm.room.member' AND k.state_key = ? AND {_VISIBLE}"
            " ORDER BY e.stream_ordering",
            room_nid,
            user_id,
        )
        return [(row[0], row[1]) for row in rows]

    async def event_at_timestamp(
        self, room_id: str, ts: int, direction: Literal["f", "b"]
    ) -> tuple[str, int] | None:
        """(event ID, origin_server_ts) of the timeline event closest to `ts`: at or after it
        for "f", at or before it for "b"."""
        room_nid = await self._rooms.get_room_nid(room_id)
        if room_nid is None:
            return None
        if direction == "f":
            cond, order = ">=", "ASC"
        else:
            cond, order = "<=", "DESC"
        row = await self._db.fetchone(
            "SELECT i.event_id, e.origin_server_ts FROM events e JOIN event_ids i ON i.event_nid = e.event_nid"
            f" WHERE e.room_nid = ? AND e.origin_server_ts {cond} ? AND {_VISIBLE}"
            f" ORDER BY e.origin_server_ts {order}, e.stream_ordering {order} LIMIT 1",
            room_nid,
            ts,
        )
        return (row[0], row[1]) if row else None

    async def event_position(self, event_id: str) -> TopologicalToken | None:
        """The place just after a timeline event (paginating backwards from it includes it)."""
        row = await self._db.fetchone(
            "SELECT e.depth, e.stream_ordering FROM events e JOIN event_ids i ON i.event_nid = e.event_nid"
            f" WHERE i.event_id = ? AND {_VISIBLE}",
            event_id,
        )
        return TopologicalToken(row[0], row[1]) if row else None
