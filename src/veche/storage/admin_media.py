"""What the admin API reads and changes about media in bulk: quarantine flags (migration
0210), a user's uploads, and the media a room's events refer to."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson

from veche.storage.database import Database

# Columns a listing of a user's media may be ordered by (Synapse's names → ours).
USER_MEDIA_ORDER = {
    "media_id": "media_id",
    "upload_name": "upload_name",
    "created_ts": "created_ts",
    "last_access_ts": "last_access_ts",
    "media_length": "size",
    "media_type": "content_type",
    "quarantined_by": "quarantined_by",
}
_EVENT_BATCH = 1_000


class MediaAdminStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def set_quarantined(self, items: Iterable[tuple[str, str]], by: str | None) -> int:
        """Quarantines the items (`by` the admin), or lifts it (None); how many changed."""
        if by is None:
            sql, args = "UPDATE media SET quarantined_by = NULL WHERE quarantined_by IS NOT NULL", ()
        else:
            sql, args = "UPDATE media SET quarantined_by = ? WHERE quarantined_by IS NULL", (by,)
        changed = 0
        async with self._db.transaction() as txn:
            for origin, media_id in items:
                changed += await txn.execute(f"{sql} AND origin = ? AND media_id = ?", *args, origin, media_id)
        return changed

    async def user_media(
        self, user_id: str, *, start: int, limit: int, order_by: str, reverse: bool
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the user's uploads (pending ones included) and how many there are."""
        column = USER_MEDIA_ORDER[order_by]
        direction = "DESC" if reverse else "ASC"
        rows = await self._db.fetchall(
            "SELECT media_id, content_type, size, upload_name, created_ts, last_access_ts, quarantined_by"
            f" FROM media WHERE user_id = ? ORDER BY {column} {direction}, media_id {direction}"
            " LIMIT ? OFFSET ?",
            user_id,
            limit,
            start,
        )
        total = await self._db.fetchval("SELECT COUNT(*) FROM media WHERE user_id = ?", user_id)
        return [
            {
                "media_id": row[0],
                "media_type": row[1],
                "media_length": row[2],
                "upload_name": row[3],
                "created_ts": row[4],
                "last_access_ts": row[5],
                "quarantined_by": row[6],
                "safe_from_quarantine": False,
            }
            for row in rows
        ], total

    async def usage_by_user(self, from_ts: int, until_ts: int | None) -> list[tuple[str, int, int, dict[str, Any]]]:
        """(user ID, uploads, bytes, profile) of every user who uploaded media created in
        [from_ts, until_ts]."""
        where = "m.user_id IS NOT NULL AND m.created_ts >= ?"
        args: list[object] = [from_ts]
        if until_ts is not None:
            where += " AND m.created_ts <= ?"
            args.append(until_ts)
        rows = await self._db.fetchall(
            "SELECT m.user_id, COUNT(*), COALESCE(SUM(m.size), 0), p.fields"
            " FROM media m LEFT JOIN profiles p ON p.user_id = m.user_id"
            f" WHERE {where} GROUP BY m.user_id, p.fields",
            *args,
        )
        return [(row[0], row[1], int(row[2]), orjson.loads(row[3]) if row[3] is not None else {}) for row in rows]

    async def user_media_ids(self, user_id: str) -> list[str]:
        rows = await self._db.fetchall("SELECT media_id FROM media WHERE user_id = ? ORDER BY media_id", user_id)
        return [row[0] for row in rows]

    async def room_event_contents(self, room_id: str) -> AsyncIterator[dict[str, Any]]:
        """The content of every event this server holds of the room, a batch at a time."""
        after = -1
        while True:
            rows = await self._db.fetchall(
                "SELECT e.event_nid, j.json FROM rooms r JOIN events e ON e.room_nid = r.room_nid"
                " JOIN event_json j ON j.event_nid = e.event_nid"
                " WHERE r.room_id = ? AND e.event_nid > ? ORDER BY e.event_nid LIMIT ?",
                room_id,
                after,
                _EVENT_BATCH,
            )
            for row in rows:
                content = orjson.loads(row[1]).get("content")
                if isinstance(content, dict):
                    yield content
            if len(rows) < _EVENT_BATCH:
                return
            after = rows[-1][0]
