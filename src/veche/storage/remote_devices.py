"""Other servers' users' device lists (migrations/0110_remote_device_lists.sql)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from veche.storage.database import Database


class RemoteDeviceStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored /user/devices answers of those users that have one."""
        wanted = list(dict.fromkeys(user_ids))
        if not wanted:
            return {}
        marks = ", ".join("?" for _ in wanted)
        rows = await self._db.fetchall(
            f"SELECT user_id, answer FROM remote_device_lists WHERE user_id IN ({marks})", *wanted
        )
        return {row[0]: orjson.loads(row[1]) for row in rows}

    async def put(self, user_id: str, stream_id: int, answer: dict[str, Any], now: int) -> None:
        await self._db.execute(
            "INSERT INTO remote_device_lists (user_id, stream_id, answer, fetched_ts) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id,"
            " answer = excluded.answer, fetched_ts = excluded.fetched_ts",
            user_id,
            stream_id,
            orjson.dumps(answer).decode(),
            now,
        )

    async def forget(self, user_id: str) -> None:
        await self._db.execute("DELETE FROM remote_device_lists WHERE user_id = ?", user_id)
