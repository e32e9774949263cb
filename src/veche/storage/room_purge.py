"""Removing what the server stores about a room, in one transaction (the admin API's
purge of a deleted room).

Every table with a room column, or whose rows hang off a room's events, is named here:
purged (`PURGED`) or kept on purpose (`KEPT`), so a test notices a new table that is
neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from veche.storage.database import Database, Transaction

# Tables keyed by the room's nid, then by its events' nids, in an order the foreign keys
# allow (event_search first: its SQLite full-text index is told what it forgets).
_BY_ROOM_NID = (
    "event_search",
    "event_relations",
    "event_redactions",
    "current_state",
    "room_memberships",
    "forward_extremities",
    "backward_extremities",
)
_BY_EVENT_NID = ("event_state", "event_json", "event_edges", "event_auth")
_BY_ROOM_ID = (
    "account_data",
    "receipts",
    "event_push_actions",
    "push_sent_marks",
    "forgotten_rooms",
    "room_aliases",
    "room_directory",
)
_BY_EVENT_ID = ("client_transactions", "federation_outbox")
# Streams whose newest (or, for events, oldest backfilled) positions the purge may delete.
_STREAMS = (("events", "stream_ordering"), ("receipts", "stream_id"), ("account_data", "stream_id"))

PURGED = frozenset(
    {*_BY_ROOM_NID, *_BY_EVENT_NID, "events", "state_snapshots", *_BY_ROOM_ID, *_BY_EVENT_ID}
)
KEPT = {
    "blocked_rooms": "a block outlives the room's data: it is what refuses later joins",
    "reports": "the admins' record of abuse, wanted after the room is gone",
    "e2e_room_keys": (
        "users' encrypted backups of their session keys: theirs, not the server's copy of the"
        " room, and what lets them read its history should they rejoin through another server"
    ),
    "rooms": (
        "the room's interned nid and version: in-memory maps and writers in flight hold the nid,"
        " and a later join from another server reuses it (the purge clears its current state)"
    ),
    "event_ids": (
        "interned event IDs, cached in memory: a persist checks `events`, not this table, to"
        " know an event, so an ID left behind is only a row"
    ),
}


@dataclass(slots=True)
class PurgedRoom:
    """What the purge deleted that caches may hold."""

    room_nid: int | None = None
    event_ids: list[str] = field(default_factory=list)
    # The users who had a membership of the room (invite, join, leave …).
    user_ids: list[str] = field(default_factory=list)


class RoomPurgeStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def purge(self, room_id: str) -> PurgedRoom:
        """Delete everything stored about `room_id` but what `KEPT` keeps."""
        purged = PurgedRoom()
        async with self._db.transaction() as txn:
            await self._keep_stream_marks(txn)
            purged.room_nid = await txn.fetchval("SELECT room_nid FROM rooms WHERE room_id = ?", room_id)
            if purged.room_nid is not None:
                await self._purge_events(txn, purged)
            for table in _BY_ROOM_ID:
                await txn.execute(f"DELETE FROM {table} WHERE room_id = ?", room_id)
        return purged

    async def _purge_events(self, txn: Transaction, purged: PurgedRoom) -> None:
        room_nid = purged.room_nid
        rows = await txn.fetchall(
            "SELECT e.event_nid, i.event_id FROM events e JOIN event_ids i ON i.event_nid = e.event_nid"
            " WHERE e.room_nid = ?",
            room_nid,
        )
        nids = [r[0] for r in rows]
        event_ids = purged.event_ids = [r[1] for r in rows]
        purged.user_ids = [
            r[0]
            for r in await txn.fetchall(
                "SELECT u.user_id FROM room_memberships m JOIN user_ids u ON u.user_nid = m.user_nid"
                " WHERE m.room_nid = ?",
                room_nid,
            )
        ]
        if self._db.engine == "sqlite":
            # External-content FTS5 forgets a row only when told its old text.
            await txn.execute(
                "INSERT INTO event_search_fts (event_search_fts, rowid, value)"
                " SELECT 'delete', event_nid, value FROM event_search WHERE room_nid = ?",
                room_nid,
            )
        for table in _BY_ROOM_NID:
            await txn.execute(f"DELETE FROM {table} WHERE room_nid = ?", room_nid)
        for table in _BY_EVENT_NID:
            await txn.execute(f"DELETE FROM {table} WHERE event_nid = ANY(?)", nids)
        await txn.execute("DELETE FROM events WHERE room_nid = ?", room_nid)
        await txn.execute("UPDATE rooms SET current_snapshot_nid = NULL WHERE room_nid = ?", room_nid)
        await txn.execute("DELETE FROM state_snapshots WHERE room_nid = ?", room_nid)
        for table in _BY_EVENT_ID:
            await txn.execute(f"DELETE FROM {table} WHERE event_id = ANY(?)", event_ids)

    async def _keep_stream_marks(self, txn: Transaction) -> None:
        """Record each stream's extreme positions before rows holding them may go."""
        for table, column in _STREAMS:
            highest, lowest = await txn.fetchone(f"SELECT MAX({column}), MIN({column}) FROM {table}")
            if highest is None:
                continue
            marked = await txn.fetchone("SELECT highest, lowest FROM stream_marks WHERE stream_table = ?", table)
            if marked is not None:
                highest, lowest = max(highest, marked[0]), min(lowest, marked[1])
            await txn.execute(
                "INSERT INTO stream_marks (stream_table, highest, lowest) VALUES (?, ?, ?)"
                " ON CONFLICT (stream_table) DO UPDATE SET highest = excluded.highest, lowest = excluded.lowest",
                table,
                highest,
                lowest,
            )
