"""Reports of events, rooms and users for administrators (migrations/0014_reports.sql)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from veche.storage.database import Database


@dataclass(frozen=True, slots=True)
class Report:
    report_id: int
    kind: str  # event, room or user
    reporter_id: str
    room_id: str | None
    event_id: str | None
    target_user_id: str | None
    reason: str | None
    received_ts: int


_COLUMNS = "kind, reporter_id, room_id, event_id, target_user_id, reason, received_ts"


class ReportStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        kind: str,
        reporter_id: str,
        *,
        room_id: str | None = None,
        event_id: str | None = None,
        target_user_id: str | None = None,
        reason: str | None = None,
    ) -> int:
        async with self._db.transaction() as txn:
            return await txn.fetchval(
                f"INSERT INTO reports ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING report_id",
                kind,
                reporter_id,
                room_id,
                event_id,
                target_user_id,
                reason,
                int(time.time() * 1000),
            )

    async def list_recent(self, limit: int = 100) -> list[Report]:
        """The newest reports first, for the admin API."""
        rows = await self._db.fetchall(
            f"SELECT report_id, {_COLUMNS} FROM reports ORDER BY report_id DESC LIMIT ?", limit
        )
        return [Report(*row) for row in rows]
