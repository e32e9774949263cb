"""Profiles of local users (migrations/0050_profiles.sql): one JSON object per user."""

from __future__ import annotations

from typing import Any

import orjson

from veche.storage.database import Database


class ProfileStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: str) -> dict[str, Any]:
        """Every field of the user's profile; empty when none is set."""
        raw = await self._db.fetchval("SELECT fields FROM profiles WHERE user_id = ?", user_id)
        return orjson.loads(raw) if raw is not None else {}

    async def put(self, user_id: str, fields: dict[str, Any]) -> None:
        """Replaces the whole profile; an empty one is removed."""
        if not fields:
            await self.delete(user_id)
            return
        await self._db.execute(
            "INSERT INTO profiles (user_id, fields) VALUES (?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET fields = excluded.fields",
            user_id,
            orjson.dumps(fields).decode(),
        )

    async def delete(self, user_id: str) -> None:
        await self._db.execute("DELETE FROM profiles WHERE user_id = ?", user_id)
