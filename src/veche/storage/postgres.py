"""The PostgreSQL engine: an asyncpg pool; SQL is translated once per statement text."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from itertools import groupby
from operator import itemgetter
from typing import Any

import asyncpg

from veche.storage.database import Database, DatabaseError, IntegrityError, Row, Transaction
from veche.storage.sql import to_postgres


def _rowcount(status: str) -> int:
    # asyncpg returns the command tag, e.g. "INSERT 0 3", "UPDATE 2", "DELETE 0".
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class _PostgresTransaction(Transaction):
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        try:
            return _rowcount(await self._conn.execute(to_postgres(sql), *args))
        except asyncpg.IntegrityConstraintViolationError as e:
            raise IntegrityError(str(e)) from e

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        try:
            await self._conn.executemany(to_postgres(sql), rows)
        except asyncpg.IntegrityConstraintViolationError as e:
            raise IntegrityError(str(e)) from e

    async def execute_all(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        # Runs of the same statement go as one pipelined executemany.
        for sql, group in groupby(statements, key=itemgetter(0)):
            rows = [args for _, args in group]
            if len(rows) == 1:
                await self.execute(sql, *rows[0])
            else:
                await self.executemany(sql, rows)

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        try:
            return [tuple(r) for r in await self._conn.fetch(to_postgres(sql), *args)]
        except asyncpg.IntegrityConstraintViolationError as e:
            raise IntegrityError(str(e)) from e


class PostgresDatabase(Database):
    engine = "postgres"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str, *, min_size: int = 2, max_size: int = 10) -> PostgresDatabase:
        try:
            pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
        except (OSError, asyncpg.PostgresError) as e:
            raise DatabaseError(f"cannot connect to PostgreSQL: {e}") from e
        return cls(pool)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield _PostgresTransaction(conn)

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        return [tuple(r) for r in await self._pool.fetch(to_postgres(sql), *args)]

    async def close(self) -> None:
        await self._pool.close()
