"""Uploaded filters (table in migrations/0013_filters.sql).

A filter never changes once stored, so reads are cached; /sync looks its filter up on
every request.
"""

from __future__ import annotations

from typing import Any

import orjson

from veche.storage.cache import LruCache
from veche.storage.database import Database

CACHE_SIZE = 10_000


class FilterStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: LruCache[int, tuple[str, dict[str, Any]]] = LruCache(CACHE_SIZE)

    async def add(self, user_id: str, definition: dict[str, Any]) -> str:
        """Store a definition; returns its filter ID (a decimal number, never starting `{`)."""
        async with self._db.transaction() as txn:
            filter_nid = await txn.fetchval(
                "INSERT INTO filters (user_id, definition) VALUES (?, ?) RETURNING filter_nid",
                user_id,
                orjson.dumps(definition).decode(),
            )
        return str(filter_nid)

    async def get(self, user_id: str, filter_id: str) -> dict[str, Any] | None:
        """The definition, if `filter_id` names a filter of `user_id`."""
        if not filter_id.isascii() or not filter_id.isdigit() or len(filter_id) > 18:
            return None
        filter_nid = int(filter_id)
        cached = self._cache.get(filter_nid)
        if cached is None:
            row = await self._db.fetchone(
                "SELECT user_id, definition FROM filters WHERE filter_nid = ?", filter_nid
            )
            if row is None:
                return None
            cached = (row[0], orjson.loads(row[1]))
            self._cache.set(filter_nid, cached)
        owner, definition = cached
        return definition if owner == user_id else None
