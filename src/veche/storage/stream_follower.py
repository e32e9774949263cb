"""An index that follows the event stream: it catches up, in batches, with every event
committed up to the current stream position before it is read, and keeps its own
position in a one-row table, so every persist path (local, federated) is covered alike.

Backfilled history sits below the live stream, at positions counting down from 0
(`EventStore.persist_event(backfilled=True)`), so a follower has two frontiers: how far up
it has read the live stream (`stream_ordering`), and how far down the backfilled history
(`backfilled_to`, 0 until history arrives). Each batch commits with its frontier, so a
crash neither skips nor repeats an event.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from veche.storage.database import Database, Transaction

BATCH_SIZE = 1000


class StreamFollower(abc.ABC):
    """Subclasses name their position table, read a range of events and index them."""

    position_table: str

    def __init__(
        self,
        db: Database,
        current_stream_token: Callable[[], int],
        oldest_backfilled_token: Callable[[], int],
    ) -> None:
        """`current_stream_token`: every live event at or below it has committed;
        `oldest_backfilled_token`: every backfilled event at or above it has."""
        self._db = db
        self._current_stream_token = current_stream_token
        self._oldest_backfilled_token = oldest_backfilled_token
        self._position: int | None = None
        self._backfilled_to: int | None = None
        self._lock = asyncio.Lock()

    async def catch_up(self) -> None:
        """Index every event committed up to the current stream position, and every
        backfilled one down to the oldest committed."""
        target = self._current_stream_token()
        floor = self._oldest_backfilled_token()
        if self._position is not None and self._backfilled_to is not None:
            if self._position >= target and self._backfilled_to <= floor:
                return
        async with self._lock:
            if self._position is None or self._backfilled_to is None:
                row = await self._db.fetchone(
                    f"SELECT stream_ordering, backfilled_to FROM {self.position_table} WHERE id = 1"
                )
                self._position, self._backfilled_to = row
            while self._position < target:
                self._position = await self._batch(self._position, target, descending=False)
            while self._backfilled_to > floor:
                self._backfilled_to = await self._batch(floor - 1, self._backfilled_to - 1, descending=True)

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """Indexing nothing until the block ends: a purge deletes events that a batch read
        but has not stored yet would otherwise cite."""
        async with self._lock:
            yield

    async def _batch(self, lower: int, upper: int, *, descending: bool) -> int:
        """Index up to a batch of events in (lower, upper], from the end a frontier moves
        away from; return the frontier reached."""
        rows = await self._fetch(lower, upper, descending, BATCH_SIZE)
        full = len(rows) == BATCH_SIZE
        async with self._db.transaction() as txn:
            await self._store(txn, rows)
            if descending:
                reached = self._stream_of(rows[-1]) if full else lower + 1
                await txn.execute(
                    f"UPDATE {self.position_table} SET backfilled_to = ? WHERE id = 1 AND backfilled_to > ?",
                    reached,
                    reached,
                )
            else:
                reached = self._stream_of(rows[-1]) if full else upper
                await txn.execute(
                    f"UPDATE {self.position_table} SET stream_ordering = ? WHERE id = 1 AND stream_ordering < ?",
                    reached,
                    reached,
                )
        return reached

    @abc.abstractmethod
    async def _fetch(self, lower: int, upper: int, descending: bool, limit: int) -> Sequence[Any]:
        """Up to `limit` rows of the events to index with lower < stream <= upper, in
        stream order (reversed if `descending`)."""

    @staticmethod
    @abc.abstractmethod
    def _stream_of(row: Any) -> int:
        """The stream position of a row `_fetch` returned."""

    @abc.abstractmethod
    async def _store(self, txn: Transaction, rows: Sequence[Any]) -> None:
        """Index the rows of one batch, in the transaction that moves the frontier."""
