"""An index that follows the event stream: it catches up, in batches, with every event
committed up to the current stream position before it is read, and keeps its own
position in a one-row table, so every persist path (local, federated) is covered alike."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable

from veche.storage.database import Database


class StreamFollower(abc.ABC):
    """Subclasses name their position table and index one batch at a time."""

    position_table: str

    def __init__(self, db: Database, current_stream_token: Callable[[], int]) -> None:
        self._db = db
        self._current_stream_token = current_stream_token
        self._position: int | None = None
        self._lock = asyncio.Lock()

    async def catch_up(self) -> None:
        """Index every event committed up to the current stream position."""
        target = self._current_stream_token()
        if self._position is not None and self._position >= target:
            return
        async with self._lock:
            if self._position is None:
                self._position = await self._db.fetchval(
                    f"SELECT stream_ordering FROM {self.position_table} WHERE id = 1"
                )
            while self._position < target:
                self._position = await self._index_batch(self._position, target)

    @abc.abstractmethod
    async def _index_batch(self, position: int, target: int) -> int:
        """Index events in (position, target]; return how far this batch reached."""
