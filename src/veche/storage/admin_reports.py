"""The admin API's view of event reports (the `reports` table of migrations/0014_reports.sql):
filtered pages, one report, deletion."""

from __future__ import annotations

from veche.storage.database import LIKE_ESCAPE, Database, contains_pattern
from veche.storage.reports import Report

_COLUMNS = "report_id, kind, reporter_id, room_id, event_id, target_user_id, reason, received_ts"


class ReportAdminStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def event_reports(
        self, *, start: int, limit: int, newest_first: bool, reporter: str | None, room_id: str | None
    ) -> tuple[list[Report], int]:
        """One page of the event reports whose reporter and room ID contain the filters,
        and how many there are."""
        where = ["kind = 'event'"]
        args: list[object] = []
        for column, value in (("reporter_id", reporter), ("room_id", room_id)):
            if value:
                where.append(f"{column} LIKE ? ESCAPE '{LIKE_ESCAPE}'")
                args.append(contains_pattern(value))
        condition = " AND ".join(where)
        direction = "DESC" if newest_first else "ASC"
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM reports WHERE {condition} ORDER BY report_id {direction} LIMIT ? OFFSET ?",
            *args,
            limit,
            start,
        )
        total = await self._db.fetchval(f"SELECT COUNT(*) FROM reports WHERE {condition}", *args)
        return [Report(*row) for row in rows], total

    async def event_report(self, report_id: int) -> Report | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM reports WHERE report_id = ? AND kind = 'event'", report_id
        )
        return Report(*row) if row else None

    async def delete_event_report(self, report_id: int) -> bool:
        return bool(await self._db.execute("DELETE FROM reports WHERE report_id = ? AND kind = 'event'", report_id))
