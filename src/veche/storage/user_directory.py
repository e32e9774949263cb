"""The user directory's search index (migrations/0051_user_directory.sql) and the one
query that searches it within what the requester may see.

Visibility is not indexed: a search joins the matching rows against the current
membership table (users joined to a room the requester is joined to, or to a public or
world-readable room), so joins, leaves and join-rule changes need no bookkeeping here.
Which rooms are public is read from their current join-rules and history-visibility
events, whose verdicts are cached by event (an event's content never changes, and
redaction keeps both keys), so a search costs one index probe per room, not a JSON parse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from veche.storage.cache import LruCache
from veche.storage.database import LIKE_ESCAPE, Database, escape_like

_PUBLIC_VALUES = {"m.room.join_rules": ("join_rule", "public"),
                  "m.room.history_visibility": ("history_visibility", "world_readable")}


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    user_id: str
    display_name: str | None
    avatar_url: str | None


class UserDirectoryStore:
    def __init__(self, db: Database, cache_size: int = 100_000) -> None:
        self._db = db
        # event_nid of a join-rules / history-visibility event → whether it makes the room public.
        self._verdicts: LruCache[int, bool] = LruCache(cache_size)

    async def upsert(self, entry: DirectoryEntry, search_text: str) -> None:
        await self._db.execute(
            "INSERT INTO user_directory (user_id, display_name, avatar_url, search_text) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET display_name = excluded.display_name,"
            " avatar_url = excluded.avatar_url, search_text = excluded.search_text",
            entry.user_id,
            entry.display_name,
            entry.avatar_url,
            search_text,
        )

    async def remove(self, user_id: str) -> None:
        await self._db.execute("DELETE FROM user_directory WHERE user_id = ?", user_id)

    async def search(
        self, requester: str, words: Sequence[str], limit: int, *, everyone: bool
    ) -> list[DirectoryEntry]:
        """Up to `limit` entries having a word that starts with each of `words` (case-folded)."""
        sql = ["SELECT d.user_id, d.display_name, d.avatar_url FROM user_directory d WHERE"]
        args: list[object] = []
        for word in words:
            sql.append(f"d.search_text LIKE ? ESCAPE '{LIKE_ESCAPE}' AND")
            args.append("% " + escape_like(word) + "%")
        sql.append("NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = d.user_id AND u.deactivated)")
        if not everyone:
            sql.append(
                "AND EXISTS (SELECT 1 FROM user_ids du"
                " JOIN room_memberships m ON m.user_nid = du.user_nid"
                " WHERE du.user_id = d.user_id AND m.membership = 'join'"
                " AND (m.room_nid = ANY(?) OR m.room_nid IN ("
                "  SELECT r.room_nid FROM room_memberships r JOIN user_ids ru ON ru.user_nid = r.user_nid"
                "  WHERE ru.user_id = ? AND r.membership = 'join')))"
            )
            args += [await self._public_room_nids(), requester]
        sql.append("ORDER BY CASE WHEN d.display_name IS NULL THEN 1 ELSE 0 END, d.user_id LIMIT ?")
        args.append(limit)
        rows = await self._db.fetchall(" ".join(sql), *args)
        return [DirectoryEntry(*row) for row in rows]

    async def _public_room_nids(self) -> list[int]:
        """Rooms whose current state has a public join rule or world-readable history."""
        key_rows = await self._db.fetchall(
            "SELECT state_key_nid, event_type FROM state_keys WHERE event_type = ANY(?) AND state_key = ''",
            list(_PUBLIC_VALUES),
        )
        if not key_rows:
            return []
        rows = await self._db.fetchall(
            "SELECT c.room_nid, c.event_nid FROM rooms r"
            " JOIN current_state c ON c.room_nid = r.room_nid AND c.state_key_nid = ANY(?)",
            [row[0] for row in key_rows],
        )
        verdicts, missing = self._verdicts.get_many(event_nid for _, event_nid in rows)
        if missing:
            verdicts.update(await self._judge(missing))
        return sorted({room_nid for room_nid, event_nid in rows if verdicts.get(event_nid)})

    async def _judge(self, event_nids: list[int]) -> dict[int, bool]:
        rows = await self._db.fetchall(
            "SELECT event_nid, json FROM event_json WHERE event_nid = ANY(?)", event_nids
        )
        verdicts = {}
        for event_nid, raw in rows:
            event = orjson.loads(bytes(raw))
            field, public_value = _PUBLIC_VALUES.get(event.get("type"), ("", None))
            content = event.get("content")
            verdict = isinstance(content, dict) and content.get(field) == public_value
            self._verdicts.set(event_nid, verdict)
            verdicts[event_nid] = verdict
        return verdicts
