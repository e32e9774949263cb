"""Read receipts (table in migrations/0011_receipts.sql).

A receipt row is the latest receipt of one (room, user, type, thread). It only moves
forward: a receipt for an event earlier in the stream than the stored one is ignored, so
a client on a stale view cannot rewind its user's read position.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from veche.storage.change_cache import StreamChangeCache
from veche.storage.database import Database
from veche.storage.stream import StreamIdGenerator

# The thread_id column's value for an unthreaded receipt.
UNTHREADED = ""


@dataclass(frozen=True, slots=True)
class Receipt:
    room_id: str
    user_id: str
    receipt_type: str
    thread_id: str | None  # None: unthreaded
    event_id: str
    ts: int
    stream_id: int


class ReceiptStore:
    def __init__(self, db: Database, stream: StreamIdGenerator) -> None:
        self._db = db
        self._stream = stream
        self._room_changes: StreamChangeCache[str] = StreamChangeCache(stream.current_token)
        # By the user whose receipt it is: a sync woken by others' receipts learns at once
        # that its user's own read positions did not move.
        self._user_changes: StreamChangeCache[str] = StreamChangeCache(stream.current_token)
        # Called with (room ID, user ID) once a receipt has committed, before its position
        # becomes visible (caches of what receipts decide, such as unread counts).
        self.on_stored: list[Callable[[str, str], None]] = []

    @classmethod
    async def create(cls, db: Database) -> ReceiptStore:
        return cls(db, await StreamIdGenerator.from_database(db, "receipts", "stream_id"))

    @property
    def current_position(self) -> int:
        return self._stream.current_token

    async def put(
        self,
        room_id: str,
        user_id: str,
        receipt_type: str,
        thread_id: str | None,
        event_id: str,
        event_stream_ordering: int,
        ts: int | None = None,
    ) -> int | None:
        """Store a receipt unless the stored one is already at or past the event.

        Returns the receipt's stream position, or None when it was ignored.
        """
        ts = int(time.time() * 1000) if ts is None else ts
        with self._stream.position() as position:
            changed = await self._db.execute(
                "INSERT INTO receipts (room_id, user_id, receipt_type, thread_id, event_id,"
                " event_stream_ordering, ts, stream_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (room_id, user_id, receipt_type, thread_id) DO UPDATE"
                " SET event_id = excluded.event_id,"
                " event_stream_ordering = excluded.event_stream_ordering,"
                " ts = excluded.ts, stream_id = excluded.stream_id"
                " WHERE receipts.event_stream_ordering < excluded.event_stream_ordering",
                room_id,
                user_id,
                receipt_type,
                thread_id or UNTHREADED,
                event_id,
                event_stream_ordering,
                ts,
                position,
            )
            if changed:
                for listener in self.on_stored:
                    listener(room_id, user_id)
        if not changed:
            return None
        self._room_changes.record(room_id, position)
        self._user_changes.record(user_id, position)
        return position

    def user_may_have_changed(self, user_id: str, since: int) -> bool:
        """False only when no receipt of the user's was stored after `since`."""
        return self._user_changes.may_have_changed(user_id, since)

    async def get_changes(self, room_ids: Collection[str], since: int, to: int) -> list[Receipt]:
        """Every receipt in `room_ids` whose latest change lies in (since, to]."""
        rooms = self._room_changes.changed_among(room_ids, since)
        if not rooms:
            return []
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM receipts"
            " WHERE room_id = ANY(?) AND stream_id > ? AND stream_id <= ?",
            rooms,
            since,
            to,
        )
        return [_receipt(row) for row in rows]

    async def get_read_position(
        self, room_id: str, user_id: str, receipt_types: Collection[str]
    ) -> tuple[str, int] | None:
        """(event ID, stream position) of the furthest unthreaded receipt of those types."""
        row = await self._db.fetchone(
            "SELECT event_id, event_stream_ordering FROM receipts"
            " WHERE room_id = ? AND user_id = ? AND receipt_type = ANY(?) AND thread_id = ?"
            " ORDER BY event_stream_ordering DESC LIMIT 1",
            room_id,
            user_id,
            list(receipt_types),
            UNTHREADED,
        )
        return None if row is None else (row[0], row[1])


_COLUMNS = "room_id, user_id, receipt_type, thread_id, event_id, ts, stream_id"


def _receipt(row: tuple[Any, ...]) -> Receipt:
    room_id, user_id, receipt_type, thread_id, event_id, ts, stream_id = row
    return Receipt(room_id, user_id, receipt_type, thread_id or None, event_id, ts, stream_id)
