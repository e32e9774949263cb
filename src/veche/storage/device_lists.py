"""The device-list stream and the membership questions device-list tracking asks
(table in migrations/0061_device_lists.sql; memberships from room_memberships).

A row (position, user, device) says the user's devices or cross-signing keys changed at
that position; the device is named when the change was one device's. A change cache
answers "nobody changed" for an idle sync without a query.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from veche.storage.change_cache import StreamChangeCache
from veche.storage.database import Database
from veche.storage.stream import StreamIdGenerator

JOIN = "join"


@dataclass(frozen=True, slots=True)
class MembershipChange:
    """A membership that became current in a room the requester is or was joined to."""

    room_id: str
    user_id: str
    membership: str


class DeviceListStore:
    def __init__(self, db: Database, stream: StreamIdGenerator) -> None:
        self._db = db
        self._stream = stream
        self._changes: StreamChangeCache[str] = StreamChangeCache(stream.current_token)

    @classmethod
    async def create(cls, db: Database) -> DeviceListStore:
        return cls(db, await StreamIdGenerator.from_database(db, "device_list_changes", "stream_id"))

    @property
    def current_position(self) -> int:
        return self._stream.current_token

    async def record_changes(self, user_id: str, device_ids: list[str | None]) -> list[int]:
        """Notes changes of the user's keys, one position each, in one write; a device ID
        marks a change of that device, None one of the cross-signing keys (or of a remote
        user's list, which arrives without a device)."""
        positions = [self._stream.allocate() for _ in device_ids]
        try:
            async with self._db.transaction() as txn:
                await txn.executemany(
                    "INSERT INTO device_list_changes (stream_id, user_id, device_id) VALUES (?, ?, ?)",
                    [(p, user_id, device_id) for p, device_id in zip(positions, device_ids, strict=True)],
                )
        finally:
            for position in positions:
                self._stream.finish(position)
        for position in positions:
            self._changes.record(user_id, position)
        return positions

    async def latest_device_change(self, user_id: str) -> int:
        """The position of the user's last device change, 0 if there was none: where the
        user's m.device_list_update sequence stands."""
        row = await self._db.fetchone(
            "SELECT MAX(stream_id) FROM device_list_changes WHERE user_id = ? AND device_id IS NOT NULL", user_id
        )
        return int(row[0]) if row is not None and row[0] is not None else 0

    async def latest_device_changes(self, user_id: str, limit: int) -> list[tuple[str, int]]:
        """The user's last `limit` device changes, newest first: (device ID, position)."""
        rows = await self._db.fetchall(
            "SELECT device_id, stream_id FROM device_list_changes WHERE user_id = ? AND device_id IS NOT NULL"
            " ORDER BY stream_id DESC LIMIT ?",
            user_id,
            limit,
        )
        return [(str(device_id), int(stream_id)) for device_id, stream_id in rows]

    async def changed_users(self, since: int, to: int) -> set[str]:
        """Users whose keys changed at a position in (since, to]."""
        if since >= to:
            return set()
        cached = self._changes.changed_since(since)
        if cached is not None and not cached:
            return set()
        rows = await self._db.fetchall(
            "SELECT DISTINCT user_id FROM device_list_changes WHERE stream_id > ? AND stream_id <= ?", since, to
        )
        return {user_id for (user_id,) in rows}

    async def users_sharing_a_room(self, user_id: str, candidates: Iterable[str]) -> set[str]:
        """Those of `candidates` joined to at least one room `user_id` is joined to."""
        wanted = list(set(candidates))
        if not wanted:
            return set()
        rows = await self._db.fetchall(
            "SELECT DISTINCT u.user_id FROM room_memberships mine"
            " JOIN user_ids me ON me.user_nid = mine.user_nid"
            " JOIN room_memberships theirs ON theirs.room_nid = mine.room_nid"
            " JOIN user_ids u ON u.user_nid = theirs.user_nid"
            " WHERE me.user_id = ? AND mine.membership = ? AND theirs.membership = ? AND u.user_id = ANY(?)",
            user_id,
            JOIN,
            JOIN,
            wanted,
        )
        return {other for (other,) in rows}

    async def membership_changes(self, user_id: str, since: int, to: int) -> list[MembershipChange]:
        """Memberships that became current at an events-stream position in (since, to], in
        the rooms `user_id` is joined to now or whose membership changed in that range."""
        if since >= to:
            return []
        rows = await self._db.fetchall(
            "SELECT r.room_id, u.user_id, m.membership FROM room_memberships mine"
            " JOIN user_ids me ON me.user_nid = mine.user_nid"
            " JOIN room_memberships m ON m.room_nid = mine.room_nid"
            " JOIN user_ids u ON u.user_nid = m.user_nid"
            " JOIN rooms r ON r.room_nid = m.room_nid"
            " WHERE me.user_id = ? AND (mine.membership = ? OR mine.stream_ordering > ?)"
            " AND m.stream_ordering > ? AND m.stream_ordering <= ?",
            user_id,
            JOIN,
            since,
            since,
            to,
        )
        return [MembershipChange(*row) for row in rows]

    async def joined_members(self, room_ids: Iterable[str]) -> set[str]:
        """Every user joined to any of the rooms."""
        wanted = list(set(room_ids))
        if not wanted:
            return set()
        rows = await self._db.fetchall(
            "SELECT DISTINCT u.user_id FROM room_memberships m"
            " JOIN rooms r ON r.room_nid = m.room_nid"
            " JOIN user_ids u ON u.user_nid = m.user_nid"
            " WHERE r.room_id = ANY(?) AND m.membership = ?",
            wanted,
            JOIN,
        )
        return {user_id for (user_id,) in rows}
