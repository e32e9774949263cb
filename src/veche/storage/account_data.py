"""Account data, global and per room (table in migrations/0010_account_data.sql).

Each write takes the next position of the account-data stream; /sync asks for the rows
of one user whose position lies in (since, to]. A change cache answers "nothing new"
without a query for users who wrote nothing since their last sync.
"""

from __future__ import annotations

from typing import Any

import orjson

from veche.storage.change_cache import StreamChangeCache
from veche.storage.database import Database
from veche.storage.stream import StreamIdGenerator

# The room_id column's value for global account data.
GLOBAL = ""

Content = dict[str, Any]


class AccountDataStore:
    def __init__(self, db: Database, stream: StreamIdGenerator) -> None:
        self._db = db
        self._stream = stream
        self._changes: StreamChangeCache[str] = StreamChangeCache(stream.current_token)

    @classmethod
    async def create(cls, db: Database) -> AccountDataStore:
        return cls(db, await StreamIdGenerator.from_database(db, "account_data", "stream_id"))

    @property
    def current_position(self) -> int:
        return self._stream.current_token

    async def put(self, user_id: str, room_id: str | None, data_type: str, content: Content) -> int:
        """Replace one item of account data (`room_id` None: global); returns its position."""
        with self._stream.position() as position:
            await self._db.execute(
                "INSERT INTO account_data (user_id, room_id, data_type, content, stream_id)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (user_id, room_id, data_type) DO UPDATE"
                " SET content = excluded.content, stream_id = excluded.stream_id",
                user_id,
                room_id or GLOBAL,
                data_type,
                orjson.dumps(content).decode(),
                position,
            )
        self._changes.record(user_id, position)
        return position

    async def get(self, user_id: str, room_id: str | None, data_type: str) -> Content | None:
        text = await self._db.fetchval(
            "SELECT content FROM account_data WHERE user_id = ? AND room_id = ? AND data_type = ?",
            user_id,
            room_id or GLOBAL,
            data_type,
        )
        return None if text is None else orjson.loads(text)

    async def get_global_changes(self, user_id: str, since: int, to: int) -> dict[str, Content]:
        """type → content of the user's global account data written in (since, to]."""
        if not self._changes.may_have_changed(user_id, since):
            return {}
        rows = await self._db.fetchall(
            "SELECT data_type, content FROM account_data"
            " WHERE user_id = ? AND room_id = ? AND stream_id > ? AND stream_id <= ?",
            user_id,
            GLOBAL,
            since,
            to,
        )
        return {data_type: orjson.loads(text) for data_type, text in rows}

    async def get_room_changes(
        self, user_id: str, since: int, to: int
    ) -> dict[str, dict[str, Content]]:
        """room ID → type → content of the user's room account data written in (since, to]."""
        if not self._changes.may_have_changed(user_id, since):
            return {}
        rows = await self._db.fetchall(
            "SELECT room_id, data_type, content FROM account_data"
            " WHERE user_id = ? AND room_id <> ? AND stream_id > ? AND stream_id <= ?",
            user_id,
            GLOBAL,
            since,
            to,
        )
        changes: dict[str, dict[str, Content]] = {}
        for room_id, data_type, text in rows:
            changes.setdefault(room_id, {})[data_type] = orjson.loads(text)
        return changes
