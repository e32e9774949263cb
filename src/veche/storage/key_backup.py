"""Server-side key backups: versions and the session keys stored in them (tables in
migrations/0063_key_backup.sql).

Every change to a version's keys bumps its etag in the same transaction, so the
(count, etag) a write returns describe exactly the state it left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from veche.storage.database import Database, IntegrityError, Transaction


@dataclass(frozen=True, slots=True)
class BackupVersion:
    version: int
    algorithm: str
    auth_data: dict[str, Any]
    etag: int
    count: int


@dataclass(frozen=True, slots=True)
class RoomKey:
    first_message_index: int
    forwarded_count: int
    is_verified: bool
    session_data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "first_message_index": self.first_message_index,
            "forwarded_count": self.forwarded_count,
            "is_verified": self.is_verified,
            "session_data": self.session_data,
        }


@dataclass(frozen=True, slots=True)
class StoredRoomKey:
    room_id: str
    session_id: str
    key: RoomKey


# Given the stored key and the uploaded one, whether the upload replaces it.
ReplacePolicy = Callable[[RoomKey, RoomKey], bool]


class KeyBackupStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_version(self, user_id: str, algorithm: str, auth_data: dict[str, Any]) -> int:
        while True:
            try:
                async with self._db.transaction() as txn:
                    newest = await txn.fetchval(
                        "SELECT MAX(version) FROM e2e_room_key_versions WHERE user_id = ?", user_id
                    )
                    version = (newest or 0) + 1
                    await txn.execute(
                        "INSERT INTO e2e_room_key_versions (user_id, version, algorithm, auth_data)"
                        " VALUES (?, ?, ?, ?)",
                        user_id,
                        version,
                        algorithm,
                        _dumps(auth_data),
                    )
                    return version
            except IntegrityError:
                # A concurrent creation took that number; take the next one.
                continue

    async def current_version(self, user_id: str) -> int | None:
        return await self._db.fetchval(
            "SELECT MAX(version) FROM e2e_room_key_versions WHERE user_id = ? AND deleted = FALSE", user_id
        )

    async def get_version(self, user_id: str, version: int | None = None) -> BackupVersion | None:
        """The version (default: the current one), unless deleted or unknown."""
        if version is None:
            version = await self.current_version(user_id)
            if version is None:
                return None
        row = await self._db.fetchone(
            "SELECT v.version, v.algorithm, v.auth_data, v.etag,"
            " (SELECT COUNT(*) FROM e2e_room_keys k WHERE k.user_id = v.user_id AND k.version = v.version)"
            " FROM e2e_room_key_versions v WHERE v.user_id = ? AND v.version = ? AND v.deleted = FALSE",
            user_id,
            version,
        )
        if row is None:
            return None
        return BackupVersion(row[0], row[1], orjson.loads(row[2]), int(row[3]), int(row[4]))

    async def version_status(self, user_id: str, version: int) -> str | None:
        """'live', 'deleted', or None for a version that never existed."""
        deleted = await self._db.fetchval(
            "SELECT deleted FROM e2e_room_key_versions WHERE user_id = ? AND version = ?", user_id, version
        )
        if deleted is None:
            return None
        return "deleted" if deleted else "live"

    async def update_auth_data(self, user_id: str, version: int, auth_data: dict[str, Any]) -> bool:
        changed = await self._db.execute(
            "UPDATE e2e_room_key_versions SET auth_data = ?"
            " WHERE user_id = ? AND version = ? AND deleted = FALSE",
            _dumps(auth_data),
            user_id,
            version,
        )
        return changed > 0

    async def delete_version(self, user_id: str, version: int) -> None:
        async with self._db.transaction() as txn:
            await txn.execute(
                "UPDATE e2e_room_key_versions SET deleted = TRUE WHERE user_id = ? AND version = ?",
                user_id,
                version,
            )
            await txn.execute("DELETE FROM e2e_room_keys WHERE user_id = ? AND version = ?", user_id, version)

    async def get_keys(
        self, user_id: str, version: int, room_id: str | None = None, session_id: str | None = None
    ) -> list[StoredRoomKey]:
        sql = (
            "SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data"
            " FROM e2e_room_keys WHERE user_id = ? AND version = ?"
        )
        args: list[Any] = [user_id, version]
        if room_id is not None:
            sql += " AND room_id = ?"
            args.append(room_id)
            if session_id is not None:
                sql += " AND session_id = ?"
                args.append(session_id)
        rows = await self._db.fetchall(sql, *args)
        return [
            StoredRoomKey(room, session, RoomKey(int(fmi), int(fc), bool(verified), orjson.loads(data)))
            for room, session, fmi, fc, verified, data in rows
        ]

    async def put_keys(
        self, user_id: str, version: int, keys: Sequence[StoredRoomKey], replaces: ReplacePolicy
    ) -> tuple[int, int] | None:
        """Stores each key unless `replaces` keeps the one held; returns (count, etag), or
        None if the version is not live."""
        async with self._db.transaction() as txn:
            live = await _lock_live_version(txn, user_id, version)
            if not live:
                return None
            changed = False
            for item in keys:
                row = await txn.fetchone(
                    "SELECT first_message_index, forwarded_count, is_verified, session_data FROM e2e_room_keys"
                    " WHERE user_id = ? AND version = ? AND room_id = ? AND session_id = ?",
                    user_id,
                    version,
                    item.room_id,
                    item.session_id,
                )
                if row is not None:
                    held = RoomKey(int(row[0]), int(row[1]), bool(row[2]), orjson.loads(row[3]))
                    if not replaces(held, item.key):
                        continue
                await txn.execute(
                    "INSERT INTO e2e_room_keys (user_id, version, room_id, session_id, first_message_index,"
                    " forwarded_count, is_verified, session_data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET"
                    " first_message_index = excluded.first_message_index,"
                    " forwarded_count = excluded.forwarded_count, is_verified = excluded.is_verified,"
                    " session_data = excluded.session_data",
                    user_id,
                    version,
                    item.room_id,
                    item.session_id,
                    item.key.first_message_index,
                    item.key.forwarded_count,
                    item.key.is_verified,
                    _dumps(item.key.session_data),
                )
                changed = True
            return await _finish_write(txn, user_id, version, changed)

    async def delete_keys(
        self, user_id: str, version: int, room_id: str | None = None, session_id: str | None = None
    ) -> tuple[int, int] | None:
        """Deletes the keys of the version (or of one room, or one session); returns
        (count, etag), or None if the version is not live."""
        async with self._db.transaction() as txn:
            if not await _lock_live_version(txn, user_id, version):
                return None
            sql = "DELETE FROM e2e_room_keys WHERE user_id = ? AND version = ?"
            args: list[Any] = [user_id, version]
            if room_id is not None:
                sql += " AND room_id = ?"
                args.append(room_id)
                if session_id is not None:
                    sql += " AND session_id = ?"
                    args.append(session_id)
            deleted = await txn.execute(sql, *args)
            return await _finish_write(txn, user_id, version, deleted > 0)


async def _lock_live_version(txn: Transaction, user_id: str, version: int) -> bool:
    # A no-op update takes the version's row lock, so concurrent writes to one backup
    # serialise and each reports the count and etag it produced.
    locked = await txn.execute(
        "UPDATE e2e_room_key_versions SET etag = etag WHERE user_id = ? AND version = ? AND deleted = FALSE",
        user_id,
        version,
    )
    return locked > 0


async def _finish_write(txn: Transaction, user_id: str, version: int, changed: bool) -> tuple[int, int]:
    if changed:
        await txn.execute(
            "UPDATE e2e_room_key_versions SET etag = etag + 1 WHERE user_id = ? AND version = ?", user_id, version
        )
    row = await txn.fetchone(
        "SELECT v.etag, (SELECT COUNT(*) FROM e2e_room_keys k WHERE k.user_id = v.user_id AND k.version = v.version)"
        " FROM e2e_room_key_versions v WHERE v.user_id = ? AND v.version = ?",
        user_id,
        version,
    )
    assert row is not None
    return int(row[1]), int(row[0])


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()
