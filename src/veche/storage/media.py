"""Media metadata, the legacy-endpoint freeze and cached URL previews
(migrations/0070_media.sql). The bytes themselves are files the media service keeps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from veche.protocol.media import ImageInfo
from veche.storage.database import Database, Row


@dataclass(frozen=True, slots=True)
class MediaRecord:
    origin: str
    media_id: str
    user_id: str | None
    content_type: str | None
    upload_name: str | None
    size: int | None
    sha256: str | None  # None while an asynchronous upload is pending
    created_ts: int
    uploaded_ts: int | None
    unused_expires_ts: int | None
    last_access_ts: int
    image: ImageInfo | None
    # The admin who quarantined the item (it is then never served); None if not quarantined.
    quarantined_by: str | None = None

    @property
    def is_pending(self) -> bool:
        return self.sha256 is None


@dataclass(frozen=True, slots=True)
class StoredContent:
    """What an upload wrote: the content's hash and size, its type and name, image facts."""

    sha256: str
    size: int
    content_type: str
    upload_name: str | None
    image: ImageInfo | None


_COLUMNS = (
    "origin, media_id, user_id, content_type, upload_name, size, sha256, created_ts,"
    " uploaded_ts, unused_expires_ts, last_access_ts,"
    " image_type, image_width, image_height, image_animated"
)


def _record(row: Row) -> MediaRecord:
    image = None
    if row[11] is not None:
        image = ImageInfo(row[11], row[12], row[13], bool(row[14]))
    return MediaRecord(*row[:11], image=image, quarantined_by=row[15])


def _image_columns(image: ImageInfo | None) -> tuple[Any, ...]:
    if image is None:
        return (None, None, None, None)
    return (image.content_type, image.width, image.height, image.animated)


class MediaStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, origin: str, media_id: str) -> MediaRecord | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS}, quarantined_by FROM media WHERE origin = ? AND media_id = ?", origin, media_id
        )
        return _record(row) if row else None

    async def add_uploaded(
        self, origin: str, media_id: str, user_id: str | None, content: StoredContent, now: int
    ) -> None:
        async with self._db.transaction() as txn:
            await txn.execute(
                f"INSERT INTO media ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
                origin,
                media_id,
                user_id,
                content.content_type,
                content.upload_name,
                content.size,
                content.sha256,
                now,
                now,
                now,
                *_image_columns(content.image),
            )

    async def add_pending(
        self, origin: str, media_id: str, user_id: str, now: int, expires_ts: int
    ) -> None:
        async with self._db.transaction() as txn:
            await txn.execute(
                "INSERT INTO media (origin, media_id, user_id, created_ts, unused_expires_ts,"
                " last_access_ts) VALUES (?, ?, ?, ?, ?, ?)",
                origin,
                media_id,
                user_id,
                now,
                expires_ts,
                now,
            )

    async def count_pending(self, user_id: str, now: int) -> int:
        return await self._db.fetchval(
            "SELECT COUNT(*) FROM media WHERE user_id = ? AND sha256 IS NULL"
            " AND unused_expires_ts > ?",
            user_id,
            now,
        )

    async def complete_pending(
        self, origin: str, media_id: str, content: StoredContent, now: int
    ) -> bool:
        """Fills a pending ID; False if it was filled meanwhile (the first upload wins)."""
        async with self._db.transaction() as txn:
            changed = await txn.execute(
                "UPDATE media SET content_type = ?, upload_name = ?, size = ?, sha256 = ?,"
                " uploaded_ts = ?, unused_expires_ts = NULL, last_access_ts = ?,"
                " image_type = ?, image_width = ?, image_height = ?, image_animated = ?"
                " WHERE origin = ? AND media_id = ? AND sha256 IS NULL",
                content.content_type,
                content.upload_name,
                content.size,
                content.sha256,
                now,
                now,
                *_image_columns(content.image),
                origin,
                media_id,
            )
        return changed == 1

    async def touch(self, origin: str, media_id: str, now: int) -> None:
        await self._db.execute(
            "UPDATE media SET last_access_ts = ? WHERE origin = ? AND media_id = ?",
            now,
            origin,
            media_id,
        )

    async def delete(self, origin: str, media_id: str) -> tuple[bool, str | None]:
        """Removes one item. Returns whether it existed, and its content hash when no other
        item shares that content any more (so the file may go)."""
        async with self._db.transaction() as txn:
            row = await txn.fetchone(
                "DELETE FROM media WHERE origin = ? AND media_id = ? RETURNING sha256",
                origin,
                media_id,
            )
            if row is None:
                return False, None
            sha256 = row[0]
            if sha256 is None:
                return True, None
            still_used = await txn.fetchval("SELECT 1 FROM media WHERE sha256 = ? LIMIT 1", sha256)
        return True, None if still_used else sha256

    async def is_content_used(self, sha256: str) -> bool:
        return await self._db.fetchval("SELECT 1 FROM media WHERE sha256 = ? LIMIT 1", sha256) is not None

    async def delete_expired_pending(self, now: int) -> int:
        return await self._db.execute(
            "DELETE FROM media WHERE sha256 IS NULL AND unused_expires_ts <= ?", now
        )

    async def stale_media(self, last_access_before: int, limit: int) -> list[tuple[str, str]]:
        """(origin, media_id) of uploaded items nobody fetched since `last_access_before`."""
        rows = await self._db.fetchall(
            "SELECT origin, media_id FROM media WHERE last_access_ts < ? AND sha256 IS NOT NULL"
            " ORDER BY last_access_ts LIMIT ?",
            last_access_before,
            limit,
        )
        return [(row[0], row[1]) for row in rows]

    async def freeze_legacy_endpoints(self, now: int) -> int:
        """The time of the freeze: `now` the first time, the recorded time afterwards."""
        async with self._db.transaction() as txn:
            await txn.execute(
                "INSERT INTO media_freeze (singleton, frozen_ts) VALUES (1, ?)"
                " ON CONFLICT (singleton) DO NOTHING",
                now,
            )
            return await txn.fetchval("SELECT frozen_ts FROM media_freeze WHERE singleton = 1")

    async def get_preview(self, url: str, now: int) -> dict[str, Any] | None:
        og = await self._db.fetchval(
            "SELECT og FROM url_previews WHERE url = ? AND expires_ts > ?", url, now
        )
        return orjson.loads(og) if og is not None else None

    async def put_preview(self, url: str, og: dict[str, Any], now: int, expires_ts: int) -> None:
        await self._db.execute(
            "INSERT INTO url_previews (url, fetched_ts, expires_ts, og) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (url) DO UPDATE SET fetched_ts = excluded.fetched_ts,"
            " expires_ts = excluded.expires_ts, og = excluded.og",
            url,
            now,
            expires_ts,
            orjson.dumps(og).decode(),
        )

    async def delete_expired_previews(self, now: int) -> int:
        return await self._db.execute("DELETE FROM url_previews WHERE expires_ts <= ?", now)
