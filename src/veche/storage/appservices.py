"""Application services' positions on the event stream (migrations/0180_appservice_positions.sql),
and the read of the stream they follow."""

from __future__ import annotations

from veche.storage.database import Database


class AppServiceStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_position(self, appservice_id: str) -> int | None:
        row = await self._db.fetchone(
            "SELECT stream_ordering FROM appservice_positions WHERE appservice_id = ?", appservice_id
        )
        return None if row is None else row[0]

    async def set_position(self, appservice_id: str, stream_ordering: int) -> None:
        await self._db.execute(
            "INSERT INTO appservice_positions (appservice_id, stream_ordering) VALUES (?, ?)"
            " ON CONFLICT (appservice_id) DO UPDATE SET stream_ordering = excluded.stream_ordering",
            appservice_id,
            stream_ordering,
        )

    async def events_between(self, lower: int, upper: int, limit: int) -> list[tuple[str, int]]:
        """(event ID, stream position) of up to `limit` accepted timeline events with
        lower < position <= upper, in stream order."""
        rows = await self._db.fetchall(
            "SELECT i.event_id, e.stream_ordering FROM events e JOIN event_ids i ON i.event_nid = e.event_nid"
            " WHERE e.stream_ordering > ? AND e.stream_ordering <= ?"
            " AND e.rejected_reason IS NULL AND NOT e.soft_failed"
            " ORDER BY e.stream_ordering LIMIT ?",
            lower,
            upper,
            limit,
        )
        return [(row[0], row[1]) for row in rows]
