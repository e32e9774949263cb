"""Which redaction events name which events (filled by `ContentIndex`)."""

from __future__ import annotations

from collections.abc import Iterable

from veche.storage.content_index import ContentIndex
from veche.storage.database import Database


class RedactionStore:
    def __init__(self, db: Database, index: ContentIndex) -> None:
        self._db = db
        self._index = index

    async def redactions_of(self, target_ids: Iterable[str]) -> dict[str, list[str]]:
        """target event ID → IDs of the timeline redaction events naming it, oldest first.

        Whether a redaction applies is for the caller to judge."""
        wanted = list(set(target_ids))
        if not wanted:
            return {}
        await self._index.catch_up()
        rows = await self._db.fetchall(
            "SELECT r.target_id, i.event_id FROM event_redactions r"
            " JOIN events e ON e.event_nid = r.redaction_nid JOIN event_ids i ON i.event_nid = r.redaction_nid"
            " WHERE r.target_id = ANY(?) ORDER BY e.stream_ordering",
            wanted,
        )
        found: dict[str, list[str]] = {}
        for target_id, redaction_id in rows:
            found.setdefault(target_id, []).append(redaction_id)
        return found
