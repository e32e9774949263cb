"""User-Interactive Authentication sessions (table in migrations/0003_auth.sql).

Kept in the database rather than in memory so that a session survives a restart and,
later, works whichever process of a split deployment the client's next request reaches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from veche.storage.database import Database


@dataclass(frozen=True, slots=True)
class UiaSession:
    session_id: str
    action: str
    user_id: str | None
    # (stage type, what the stage proved) in the order the stages were completed.
    completed: list[tuple[str, Any]]
    created_ts: int


class UiaSessionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, session_id: str, action: str, user_id: str | None, created_ts: int
    ) -> None:
        await self._db.execute(
            "INSERT INTO uia_sessions (session_id, action, user_id, completed, created_ts)"
            " VALUES (?, ?, ?, ?, ?)",
            session_id,
            action,
            user_id,
            "[]",
            created_ts,
        )

    async def get(self, session_id: str) -> UiaSession | None:
        row = await self._db.fetchone(
            "SELECT session_id, action, user_id, completed, created_ts FROM uia_sessions"
            " WHERE session_id = ?",
            session_id,
        )
        if row is None:
            return None
        completed = [(stage, result) for stage, result in orjson.loads(row[3])]
        return UiaSession(row[0], row[1], row[2], completed, row[4])

    async def set_completed(self, session_id: str, completed: list[tuple[str, Any]]) -> None:
        await self._db.execute(
            "UPDATE uia_sessions SET completed = ? WHERE session_id = ?",
            orjson.dumps([list(pair) for pair in completed]).decode(),
            session_id,
        )

    async def delete_created_before(self, ts: int) -> None:
        await self._db.execute("DELETE FROM uia_sessions WHERE created_ts < ?", ts)
