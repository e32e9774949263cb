"""The persistent federation outbox (tables in migrations/0100_federation_outbox.sql).

Entries are queued per destination in one global order and removed once delivered; the
back-off state of each destination lives beside them, so both survive a restart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from veche.storage.database import Database


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    position: int
    event_id: str | None  # a PDU …
    edu: dict[str, Any] | None  # … or an EDU {"edu_type", "content"}


@dataclass(frozen=True, slots=True)
class Backoff:
    retry_interval_ms: int
    retry_at_ts: int


class OutboxStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_pdu(self, destinations: Iterable[str], event_id: str) -> None:
        async with self._db.transaction() as txn:
            await txn.executemany(
                "INSERT INTO federation_outbox (destination, event_id) VALUES (?, ?)",
                [(destination, event_id) for destination in destinations],
            )

    async def add_edus(self, entries: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Queue EDUs, given as (destination, {"edu_type", "content"})."""
        async with self._db.transaction() as txn:
            await txn.executemany(
                "INSERT INTO federation_outbox (destination, edu_json) VALUES (?, ?)",
                [(destination, orjson.dumps(edu).decode()) for destination, edu in entries],
            )

    async def pending(self, destination: str, limit: int) -> list[OutboxEntry]:
        """The oldest entries queued for `destination`."""
        rows = await self._db.fetchall(
            "SELECT position, event_id, edu_json FROM federation_outbox"
            " WHERE destination = ? ORDER BY position LIMIT ?",
            destination,
            limit,
        )
        return [
            OutboxEntry(position, event_id, orjson.loads(edu_json) if edu_json is not None else None)
            for position, event_id, edu_json in rows
        ]

    async def remove(self, positions: Sequence[int]) -> None:
        if positions:
            await self._db.execute("DELETE FROM federation_outbox WHERE position = ANY(?)", list(positions))

    async def destinations_with_entries(self) -> list[str]:
        rows = await self._db.fetchall("SELECT DISTINCT destination FROM federation_outbox")
        return [row[0] for row in rows]

    async def get_backoff(self, destination: str) -> Backoff | None:
        row = await self._db.fetchone(
            "SELECT retry_interval_ms, retry_at_ts FROM federation_destinations WHERE destination = ?",
            destination,
        )
        return Backoff(row[0], row[1]) if row is not None else None

    async def set_backoff(self, destination: str, backoff: Backoff) -> None:
        await self._db.execute(
            "INSERT INTO federation_destinations (destination, retry_interval_ms, retry_at_ts)"
            " VALUES (?, ?, ?) ON CONFLICT (destination) DO UPDATE SET"
            " retry_interval_ms = excluded.retry_interval_ms, retry_at_ts = excluded.retry_at_ts",
            destination,
            backoff.retry_interval_ms,
            backoff.retry_at_ts,
        )

    async def clear_backoff(self, destination: str) -> None:
        await self._db.execute("DELETE FROM federation_destinations WHERE destination = ?", destination)
