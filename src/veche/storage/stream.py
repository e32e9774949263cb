"""Allocating stream positions when transactions may commit out of order."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from veche.storage.database import Database


class StreamIdGenerator:
    """Hands out increasing positions and tracks which of them have finished.

    Writers take a position before their transaction and report it finished after commit
    (or failure). `current_token` is the highest position below which every position has
    finished, so a reader that reads up to it can never skip an event whose transaction
    happened to commit after a later one. A failed write leaves a harmless gap.
    """

    def __init__(self, current: int) -> None:
        self._last_allocated = current
        self._in_flight: deque[int] = deque()
        self._finished_early: set[int] = set()

    @classmethod
    async def from_database(cls, db: Database, table: str, column: str) -> StreamIdGenerator:
        """Start after the highest position already persisted in `table.column`, or
        handed out to rows since deleted (`stream_marks`)."""
        current = await db.fetchval(f"SELECT MAX({column}) FROM {table}")
        mark = await db.fetchval("SELECT highest FROM stream_marks WHERE stream_table = ?", table)
        return cls(max(current or 0, mark or 0))

    @property
    def current_token(self) -> int:
        if self._in_flight:
            return self._in_flight[0] - 1
        return self._last_allocated

    @property
    def everything_finished_is_visible(self) -> bool:
        """No finished write waits above `current_token` for an earlier one to finish."""
        return not self._finished_early

    def allocate(self) -> int:
        self._last_allocated += 1
        self._in_flight.append(self._last_allocated)
        return self._last_allocated

    def finish(self, position: int) -> None:
        if self._in_flight and self._in_flight[0] == position:
            self._in_flight.popleft()
            while self._in_flight and self._in_flight[0] in self._finished_early:
                self._finished_early.remove(self._in_flight.popleft())
        else:
            self._finished_early.add(position)

    @contextmanager
    def position(self) -> Iterator[int]:
        """`with gen.position() as pos:` wrap the whole write transaction."""
        pos = self.allocate()
        try:
            yield pos
        finally:
            self.finish(pos)
