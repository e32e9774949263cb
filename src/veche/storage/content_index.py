"""Redactions and relations, derived from the content of persisted events.

Every path that persists events (local sending, federation, backfill) goes through the
event store, so rather than hooking each one, this index follows the event stream: before
a read it takes in the events committed since it last looked. Reading code calls
`catch_up()` first; when nothing new has been persisted that costs one comparison.

Backfilled history, stored below the live stream, is taken in too (downwards from 0);
outliers, which have no stream position, are not indexed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from veche.protocol.events import Event
from veche.protocol.relations import relation_of
from veche.storage.database import Database, Transaction
from veche.storage.rooms import RoomStore
from veche.storage.stream_follower import StreamFollower

_RELATES_TO = b'"m.relates_to"'


class ContentIndex(StreamFollower):
    position_table = "content_index_position"

    def __init__(
        self,
        db: Database,
        rooms: RoomStore,
        current_stream_token: Callable[[], int],
        oldest_backfilled_token: Callable[[], int],
    ) -> None:
        super().__init__(db, current_stream_token, oldest_backfilled_token)
        self._rooms = rooms

    async def _fetch(self, lower: int, upper: int, descending: bool, limit: int) -> Sequence[Any]:
        order = "DESC" if descending else "ASC"
        return await self._db.fetchall(
            "SELECT e.event_nid, i.event_id, e.room_nid, e.event_type, e.stream_ordering, j.json FROM events e"
            " JOIN event_ids i ON i.event_nid = e.event_nid JOIN event_json j ON j.event_nid = e.event_nid"
            " WHERE e.stream_ordering > ? AND e.stream_ordering <= ?"
            " AND e.rejected_reason IS NULL AND NOT e.soft_failed"
            f" ORDER BY e.stream_ordering {order} LIMIT ?",
            lower,
            upper,
            limit,
        )

    @staticmethod
    def _stream_of(row: Any) -> int:
        return row[4]

    async def _store(self, txn: Transaction, rows: Sequence[Any]) -> None:
        redactions: list[tuple[int, int, str]] = []
        relations: list[tuple[int, int, str, str]] = []
        versions = await self._rooms.get_versions({row[2] for row in rows})
        for event_nid, event_id, room_nid, event_type, _, raw in rows:
            raw = bytes(raw)
            if event_type != "m.room.redaction" and _RELATES_TO not in raw:
                continue
            event = Event(orjson.loads(raw), versions[room_nid], event_id)
            if event_type == "m.room.redaction" and event.redacts is not None:
                redactions.append((event_nid, room_nid, event.redacts))
            relation = relation_of(event.content)
            if relation is not None:
                relations.append((event_nid, room_nid, relation[0], relation[1]))
        await txn.executemany(
            "INSERT INTO event_redactions (redaction_nid, room_nid, target_id) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            redactions,
        )
        await txn.executemany(
            "INSERT INTO event_relations (event_nid, room_nid, parent_id, rel_type) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            relations,
        )
