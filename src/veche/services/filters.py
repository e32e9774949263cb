"""Uploaded filters (client-server-api "Filtering", data/api/client-server/filter.yaml).

For /sync:
    `get_filter(user_id, filter_id)`         → the definition as uploaded, or None
    `get_parsed_filter(user_id, filter_id)`  → the parsed `Filter`, or None
"""

from __future__ import annotations

from typing import Any

from veche.errors import bad_json
from veche.protocol.filters import Filter, FilterError, parse_filter
from veche.storage.cache import LruCache
from veche.storage.filters import FilterStore

PARSED_CACHE_SIZE = 10_000


class FilterService:
    def __init__(self, store: FilterStore) -> None:
        self._store = store
        self._parsed: LruCache[tuple[str, str], Filter] = LruCache(PARSED_CACHE_SIZE)

    async def create_filter(self, user_id: str, definition: dict[str, Any]) -> str:
        """Validate and store a definition; returns its filter ID. 400 M_BAD_JSON if invalid."""
        try:
            parse_filter(definition)
        except FilterError as e:
            raise bad_json(f"Invalid filter: {e}") from None
        return await self._store.add(user_id, definition)

    async def get_filter(self, user_id: str, filter_id: str) -> dict[str, Any] | None:
        return await self._store.get(user_id, filter_id)

    async def get_parsed_filter(self, user_id: str, filter_id: str) -> Filter | None:
        parsed = self._parsed.get((user_id, filter_id))
        if parsed is None:
            definition = await self._store.get(user_id, filter_id)
            if definition is None:
                return None
            # Stored filters were valid when uploaded and the rules only loosen over time.
            parsed = parse_filter(definition)
            self._parsed.set((user_id, filter_id), parsed)
        return parsed
