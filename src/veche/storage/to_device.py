"""Send-to-device inboxes (tables in migrations/0062_to_device.sql).

Each message takes the next position of the to-device stream. A device reads the messages
of its inbox in (since, to] and deletes those up to a token it acknowledged. The stream's
high-water mark is stored before acknowledged messages are deleted, so positions never go
back after a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from veche.storage.change_cache import StreamChangeCache
from veche.storage.database import Database
from veche.storage.stream import StreamIdGenerator


@dataclass(frozen=True, slots=True)
class Delivery:
    """One copy of a message for one device."""

    user_id: str
    device_id: str
    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class InboxPage:
    messages: list[dict[str, Any]]
    # The position of the last message returned, or None if none were.
    last_position: int | None
    # Whether messages remain in the range after those returned.
    limited: bool


class ToDeviceStore:
    def __init__(self, db: Database, stream: StreamIdGenerator) -> None:
        self._db = db
        self._stream = stream
        self._changes: StreamChangeCache[tuple[str, str]] = StreamChangeCache(stream.current_token)
        # Per device, a position up to which its inbox is known to be empty, so that the
        # acknowledgement every /sync carries costs nothing when there is nothing to delete.
        self._emptied: dict[tuple[str, str], int] = {}

    @classmethod
    async def create(cls, db: Database) -> ToDeviceStore:
        mark = await db.fetchval("SELECT position FROM to_device_stream_mark") or 0
        newest = await db.fetchval("SELECT MAX(stream_id) FROM to_device_messages") or 0
        return cls(db, StreamIdGenerator(max(mark, newest)))

    @property
    def current_position(self) -> int:
        return self._stream.current_token

    async def enqueue(
        self, sender_user_id: str, sender_device_id: str, txn_id: str, deliveries: Sequence[Delivery]
    ) -> int | None:
        """Queues the messages once per sending device and transaction ID.

        Returns the position of the last message, or None when the transaction was already
        sent (or had no recipients): nothing new to announce.
        """
        positions = [self._stream.allocate() for _ in deliveries]
        try:
            async with self._db.transaction() as txn:
                fresh = await txn.execute(
                    "INSERT INTO to_device_transactions (user_id, device_id, txn_id) VALUES (?, ?, ?)"
                    " ON CONFLICT (user_id, device_id, txn_id) DO NOTHING",
                    sender_user_id,
                    sender_device_id,
                    txn_id,
                )
                if not fresh:
                    return None
                await txn.executemany(
                    "INSERT INTO to_device_messages (stream_id, user_id, device_id, message_json)"
                    " VALUES (?, ?, ?, ?)",
                    [
                        (pos, d.user_id, d.device_id, orjson.dumps(d.message).decode())
                        for pos, d in zip(positions, deliveries)
                    ],
                )
        finally:
            for pos in positions:
                self._stream.finish(pos)
        for pos, d in zip(positions, deliveries):
            self._changes.record((d.user_id, d.device_id), pos)
        return positions[-1] if positions else None

    async def read_inbox(self, user_id: str, device_id: str, since: int, to: int, limit: int) -> InboxPage:
        """The device's messages at positions in (since, to], oldest first, at most `limit`."""
        if since >= to or not self._changes.may_have_changed((user_id, device_id), since):
            return InboxPage([], None, False)
        rows = await self._db.fetchall(
            "SELECT stream_id, message_json FROM to_device_messages"
            " WHERE user_id = ? AND device_id = ? AND stream_id > ? AND stream_id <= ?"
            " ORDER BY stream_id LIMIT ?",
            user_id,
            device_id,
            since,
            to,
            limit + 1,
        )
        limited = len(rows) > limit
        rows = rows[:limit]
        return InboxPage(
            [orjson.loads(text) for _, text in rows], rows[-1][0] if rows else None, limited
        )

    async def acknowledge(self, user_id: str, device_id: str, upto: int) -> None:
        """Deletes the device's messages at positions up to `upto`: the device has them."""
        key = (user_id, device_id)
        emptied = self._emptied.get(key)
        if emptied is not None and (emptied >= upto or not self._changes.may_have_changed(key, emptied)):
            self._emptied[key] = max(emptied, upto)
            return
        async with self._db.transaction() as txn:
            await txn.execute(
                "UPDATE to_device_stream_mark SET position = ? WHERE position < ?",
                self._stream.current_token,
                self._stream.current_token,
            )
            await txn.execute(
                "DELETE FROM to_device_messages WHERE user_id = ? AND device_id = ? AND stream_id <= ?",
                user_id,
                device_id,
                upto,
            )
        self._emptied[key] = upto

    async def delete_devices(self, user_id: str, device_ids: Sequence[str]) -> None:
        """Drops the inboxes and transaction records of devices that no longer exist."""
        async with self._db.transaction() as txn:
            await txn.execute(
                "UPDATE to_device_stream_mark SET position = ? WHERE position < ?",
                self._stream.current_token,
                self._stream.current_token,
            )
            for table in ("to_device_messages", "to_device_transactions"):
                await txn.execute(
                    f"DELETE FROM {table} WHERE user_id = ? AND device_id = ANY(?)", user_id, list(device_ids)
                )
        for device_id in device_ids:
            self._emptied.pop((user_id, device_id), None)
