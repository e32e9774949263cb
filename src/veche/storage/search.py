"""The full-text index behind /search (migrations/0081_search.sql).

Like the content index (storage/content_index.py), it follows the event stream rather than
hooking each persisting path: `catch_up()` takes in the events committed since it last
looked, and writes their rows together with its new position in one transaction, so the
index never holds half a batch and never skips or repeats an event after a crash.

SQLite keeps the text in an FTS5 table (external content over `event_search`, porter
stemming, ranked by bm25); PostgreSQL keeps an English `tsvector` per row under a GIN index,
ranked by ts_rank_cd. Redacted events are taken out with `remove`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from veche.storage.database import Transaction
from veche.storage.stream_follower import StreamFollower

SEARCHED_TYPES = ("m.room.message", "m.room.name", "m.room.topic")
_KEY_OF_TYPE = {"m.room.message": "content.body", "m.room.name": "content.name", "m.room.topic": "content.topic"}
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class SearchHit:
    event_id: str
    room_id: str
    stream_ordering: int
    rank: float


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the previous page stopped: (rank, stream) when ordered by rank, else stream."""

    rank: float | None
    stream_ordering: int


def searchable_text(event_type: str, content: Mapping[str, Any]) -> str | None:
    """The text /search matches for an event of this type (search.md "room_events")."""
    if event_type == "m.room.message":
        body = content.get("body")
        return body if isinstance(body, str) else None
    if event_type == "m.room.name":
        name = content.get("name")
        return name if isinstance(name, str) else None
    if event_type == "m.room.topic":
        parts = [content["topic"]] if isinstance(content.get("topic"), str) else []
        topic = content.get("m.topic")
        blocks = topic.get("m.text") if isinstance(topic, Mapping) else None
        for block in blocks if isinstance(blocks, list) else []:
            if isinstance(block, Mapping) and block.get("mimetype", "text/plain") == "text/plain":
                body = block.get("body")
                if isinstance(body, str) and body not in parts:
                    parts.append(body)
        return "\n".join(parts) or None
    return None


def search_terms(text: str) -> list[str]:
    """The words of a search term, lowercased (also what results highlight)."""
    return [w.lower() for w in _WORD.findall(text)]


class SearchIndex(StreamFollower):
    position_table = "event_search_position"

    async def _fetch(self, lower: int, upper: int, descending: bool, limit: int) -> Sequence[Any]:
        order = "DESC" if descending else "ASC"
        return await self._db.fetchall(
            "SELECT e.event_nid, e.room_nid, e.event_type, e.stream_ordering, e.origin_server_ts,"
            " e.state_key_nid IS NOT NULL, j.json FROM events e JOIN event_json j ON j.event_nid = e.event_nid"
            " WHERE e.stream_ordering > ? AND e.stream_ordering <= ? AND e.event_type = ANY(?)"
            " AND e.rejected_reason IS NULL AND NOT e.soft_failed"
            f" ORDER BY e.stream_ordering {order} LIMIT ?",
            lower,
            upper,
            list(SEARCHED_TYPES),
            limit,
        )

    @staticmethod
    def _stream_of(row: Any) -> int:
        return row[3]

    async def _store(self, txn: Transaction, rows: Sequence[Any]) -> None:
        entries = []
        for event_nid, room_nid, event_type, stream, ts, is_state, raw in rows:
            # m.room.name and m.room.topic only count as state (a message event of that
            # type names nothing).
            if event_type != "m.room.message" and not is_state:
                continue
            content = orjson.loads(bytes(raw)).get("content")
            text = searchable_text(event_type, content) if isinstance(content, dict) else None
            if text:
                entries.append((event_nid, room_nid, _KEY_OF_TYPE[event_type], stream, ts, text))
        await self._insert(txn, entries)

    async def _insert(self, txn: Transaction, entries: list[tuple[Any, ...]]) -> None:
        if not entries:
            return
        if self._db.engine == "sqlite":
            await txn.executemany(
                "INSERT INTO event_search (event_nid, room_nid, search_key, stream_ordering, origin_server_ts, value)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                entries,
            )
            # The batch and the position commit together, so no entry is indexed twice.
            await txn.executemany(
                "INSERT INTO event_search_fts (rowid, value) VALUES (?, ?)", [(e[0], e[5]) for e in entries]
            )
            return
        await txn.executemany(
            "INSERT INTO event_search (event_nid, room_nid, search_key, stream_ordering, origin_server_ts, value, vector)"
            " VALUES (?, ?, ?, ?, ?, ?, to_tsvector('english', ?)) ON CONFLICT DO NOTHING",
            [(*e, e[5]) for e in entries],
        )

    async def remove(self, event_ids: Iterable[str]) -> None:
        """Take events out of the index (their redaction applied)."""
        wanted = list(set(event_ids))
        if not wanted:
            return
        await self.catch_up()
        async with self._db.transaction() as txn:
            rows = await txn.fetchall(
                "SELECT s.event_nid, s.value FROM event_search s JOIN event_ids i ON i.event_nid = s.event_nid"
                " WHERE i.event_id = ANY(?)",
                wanted,
            )
            if not rows:
                return
            if self._db.engine == "sqlite":
                # External-content FTS5 forgets a row only when told its old text.
                await txn.executemany(
                    "INSERT INTO event_search_fts (event_search_fts, rowid, value) VALUES ('delete', ?, ?)", rows
                )
            await txn.execute("DELETE FROM event_search WHERE event_nid = ANY(?)", [r[0] for r in rows])

    async def search(
        self,
        room_ids: Sequence[str],
        term: str,
        *,
        keys: Sequence[str],
        order_by_rank: bool,
        after: Cursor | None,
        limit: int,
    ) -> list[SearchHit]:
        """Matches of every word of `term` in those rooms, best (or newest) first."""
        words = search_terms(term)
        if not words or not room_ids or not keys:
            return []
        await self.catch_up()
        if self._db.engine == "sqlite":
            # Each word quoted: FTS5 syntax characters in the term stay literal.
            matched = (
                "SELECT s.event_nid, s.room_nid, s.stream_ordering, -bm25(event_search_fts) AS rank"
                " FROM event_search_fts JOIN event_search s ON s.event_nid = event_search_fts.rowid"
                " WHERE event_search_fts MATCH ?"
            )
            query: Any = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        else:
            matched = (
                "SELECT s.event_nid, s.room_nid, s.stream_ordering,"
                " ts_rank_cd(s.vector, plainto_tsquery('english', ?))::float8 AS rank"
                " FROM event_search s WHERE s.vector @@ plainto_tsquery('english', ?)"
            )
            query = " ".join(words)
        args: list[Any] = [query] if self._db.engine == "sqlite" else [query, query]
        sql = (
            f"SELECT q.event_nid, q.room_nid, q.stream_ordering, q.rank FROM ({matched}"
            " AND s.room_nid IN (SELECT room_nid FROM rooms WHERE room_id = ANY(?)) AND s.search_key = ANY(?)) q"
        )
        args += [list(room_ids), list(keys)]
        if after is not None:
            if order_by_rank:
                sql += " WHERE (q.rank < ? OR (q.rank = ? AND q.stream_ordering < ?))"
                args += [after.rank, after.rank, after.stream_ordering]
            else:
                sql += " WHERE q.stream_ordering < ?"
                args.append(after.stream_ordering)
        sql += " ORDER BY q.rank DESC, q.stream_ordering DESC" if order_by_rank else " ORDER BY q.stream_ordering DESC"
        sql += " LIMIT ?"
        args.append(limit)
        rows = await self._db.fetchall(sql, *args)
        if not rows:
            return []
        ids = await self._db.fetchall(
            "SELECT i.event_nid, i.event_id FROM event_ids i WHERE i.event_nid = ANY(?)", [r[0] for r in rows]
        )
        rooms = await self._db.fetchall(
            "SELECT room_nid, room_id FROM rooms WHERE room_nid = ANY(?)", list({r[1] for r in rows})
        )
        event_ids, room_names = dict(ids), dict(rooms)
        return [SearchHit(event_ids[nid], room_names[room_nid], stream, float(rank)) for nid, room_nid, stream, rank in rows]

    async def count(self, room_ids: Sequence[str], term: str, *, keys: Sequence[str]) -> int:
        """How many indexed events match, before visibility (search.md allows an estimate)."""
        words = search_terms(term)
        if not words or not room_ids or not keys:
            return 0
        await self.catch_up()
        if self._db.engine == "sqlite":
            sql = (
                "SELECT COUNT(*) FROM event_search_fts JOIN event_search s ON s.event_nid = event_search_fts.rowid"
                " WHERE event_search_fts MATCH ?"
            )
            query = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        else:
            sql = "SELECT COUNT(*) FROM event_search s WHERE s.vector @@ plainto_tsquery('english', ?)"
            query = " ".join(words)
        sql += " AND s.room_nid IN (SELECT room_nid FROM rooms WHERE room_id = ANY(?)) AND s.search_key = ANY(?)"
        return int(await self._db.fetchval(sql, query, list(room_ids), list(keys)) or 0)
