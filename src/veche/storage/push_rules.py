"""Each user's own push rules, one JSON document per user (migrations/0080_push.sql)."""

from __future__ import annotations

from typing import Any

import orjson

from veche.storage.database import Database


class PushRuleStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: str) -> dict[str, Any] | None:
        raw = await self._db.fetchval("SELECT rules FROM push_rules WHERE user_id = ?", user_id)
        return None if raw is None else orjson.loads(raw)

    async def get_many(self, user_ids: list[str]) -> dict[str, dict[str, Any]]:
        """user ID → stored document, for those of `user_ids` who have one."""
        if not user_ids:
            return {}
        rows = await self._db.fetchall("SELECT user_id, rules FROM push_rules WHERE user_id = ANY(?)", user_ids)
        return {user_id: orjson.loads(raw) for user_id, raw in rows}

    async def put(self, user_id: str, rules: dict[str, Any]) -> None:
        await self._db.execute(
            "INSERT INTO push_rules (user_id, rules) VALUES (?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET rules = excluded.rules",
            user_id,
            orjson.dumps(rules).decode(),
        )
