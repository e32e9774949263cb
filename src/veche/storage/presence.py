"""The latest presence of each user (table in migrations/0012_presence.sql)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from veche.storage.change_cache import StreamChangeCache
from veche.storage.database import Database
from veche.storage.stream import StreamIdGenerator


@dataclass(frozen=True, slots=True)
class UserPresence:
    user_id: str
    state: str  # online, unavailable or offline
    status_msg: str | None
    last_active_ts: int
    stream_id: int


_COLUMNS = "user_id, state, status_msg, last_active_ts, stream_id"


class PresenceStore:
    def __init__(self, db: Database, stream: StreamIdGenerator) -> None:
        self._db = db
        self._stream = stream
        self._changes: StreamChangeCache[str] = StreamChangeCache(stream.current_token)

    @classmethod
    async def create(cls, db: Database) -> PresenceStore:
        return cls(db, await StreamIdGenerator.from_database(db, "presence", "stream_id"))

    @property
    def current_position(self) -> int:
        return self._stream.current_token

    async def put(
        self, user_id: str, state: str, status_msg: str | None, last_active_ts: int
    ) -> UserPresence:
        with self._stream.position() as position:
            await self._db.execute(
                f"INSERT INTO presence ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (user_id) DO UPDATE SET state = excluded.state,"
                " status_msg = excluded.status_msg, last_active_ts = excluded.last_active_ts,"
                " stream_id = excluded.stream_id",
                user_id,
                state,
                status_msg,
                last_active_ts,
                position,
            )
        self._changes.record(user_id, position)
        return UserPresence(user_id, state, status_msg, last_active_ts, position)

    async def get(self, user_id: str) -> UserPresence | None:
        row = await self._db.fetchone(f"SELECT {_COLUMNS} FROM presence WHERE user_id = ?", user_id)
        return None if row is None else _presence(row)

    async def get_changes(self, user_ids: Collection[str], since: int, to: int) -> list[UserPresence]:
        """The presence of those of `user_ids` whose presence changed in (since, to]."""
        users = self._changes.changed_among(user_ids, since)
        if not users:
            return []
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM presence"
            " WHERE user_id = ANY(?) AND stream_id > ? AND stream_id <= ?",
            users,
            since,
            to,
        )
        return [_presence(row) for row in rows]

    def users_changed_since(self, since: int) -> set[str] | None:
        """The users whose presence changed after `since`; None when that is not known."""
        return self._changes.changed_since(since)

    async def get_not_offline(self) -> list[UserPresence]:
        """Users last seen online or idle: the ones whose presence may still time out."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM presence WHERE state <> ?", "offline"
        )
        return [_presence(row) for row in rows]


def _presence(row: tuple[Any, ...]) -> UserPresence:
    return UserPresence(*row)
