"""Redactions and relations, derived from the content of persisted events.

Every path that persists events (local sending, federation, backfill) goes through the
event store, so rather than hooking each one, this index follows the event stream: before
a read it takes in the events committed since it last looked. Reading code calls
`catch_up()` first; when nothing new has been persisted that costs one comparison.

Events without a stream position (outliers, and backfilled history if it is ever stored
below zero) are not indexed.
"""

from __future__ import annotations

from collections.abc import Callable
import orjson

from veche.protocol.events import Event
from veche.protocol.relations import relation_of
from veche.storage.database import Database
from veche.storage.rooms import RoomStore
from veche.storage.stream_follower import StreamFollower

BATCH_SIZE = 1000
_RELATES_TO = b'"m.relates_to"'


class ContentIndex(StreamFollower):
    position_table = "content_index_position"

    def __init__(self, db: Database, rooms: RoomStore, current_stream_token: Callable[[], int]) -> None:
        super().__init__(db, current_stream_token)
        self._rooms = rooms

    async def _index_batch(self, position: int, target: int) -> int:
        rows = await self._db.fetchall(
            "SELECT e.event_nid, i.event_id, e.room_nid, e.event_type, e.stream_ordering, j.json FROM events e"
            " JOIN event_ids i ON i.event_nid = e.event_nid JOIN event_json j ON j.event_nid = e.event_nid"
            " WHERE e.stream_ordering > ? AND e.stream_ordering <= ?"
            " AND e.rejected_reason IS NULL AND NOT e.soft_failed"
            " ORDER BY e.stream_ordering LIMIT ?",
            position,
            target,
            BATCH_SIZE,
        )
        reached = rows[-1][4] if len(rows) == BATCH_SIZE else target
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
        async with self._db.transaction() as txn:
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
            await txn.execute(
                "UPDATE content_index_position SET stream_ordering = ? WHERE id = 1 AND stream_ordering < ?",
                reached,
                reached,
            )
        return reached

