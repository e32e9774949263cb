"""The PostgreSQL engine: an asyncpg pool; SQL is translated once per statement text.

Write transactions run on one writer connection taken from the pool, in turn, and those
queued together commit at once (see veche.storage.group_commit), so concurrent writers
share one WAL flush; reads outside transactions use the rest of the pool.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from itertools import groupby
from operator import itemgetter
from typing import Any

import asyncpg

from veche.storage.database import (
    Database,
    DatabaseError,
    IntegrityError,
    InvalidValue,
    Row,
    Transaction,
)
from veche.storage.group_commit import GroupCommitter, WriterConnection
from veche.storage.sql import to_postgres

logger = logging.getLogger(__name__)


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
        except asyncpg.DataError as e:
            raise InvalidValue(str(e)) from e

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        try:
            await self._conn.executemany(to_postgres(sql), rows)
        except asyncpg.IntegrityConstraintViolationError as e:
            raise IntegrityError(str(e)) from e
        except asyncpg.DataError as e:
            raise InvalidValue(str(e)) from e

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
        except asyncpg.DataError as e:
            raise InvalidValue(str(e)) from e


_SAVEPOINT = "veche_txn"


class _PostgresWriter(WriterConnection[_PostgresTransaction]):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._conn: asyncpg.Connection | None = None
        self._txn: _PostgresTransaction | None = None

    async def begin(self) -> None:
        await (await self._usable_connection()).execute("BEGIN")

    async def _usable_connection(self) -> asyncpg.Connection:
        if self._conn is not None and self._conn.is_closed():
            # The server went away: a fresh connection for the next transaction.
            await self._pool.release(self._conn)
            self._conn = None
        if self._conn is None:
            self._conn = await self._pool.acquire()
            self._txn = _PostgresTransaction(self._conn)
        return self._conn

    async def savepoint(self) -> None:
        await self._connection().execute(f"SAVEPOINT {_SAVEPOINT}")

    async def release(self) -> None:
        await self._connection().execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")

    async def release_and_commit(self) -> None:
        await self._connection().execute(f"RELEASE SAVEPOINT {_SAVEPOINT}; COMMIT")

    async def rollback_to_savepoint(self) -> bool:
        conn = self._connection()
        if conn.is_closed() or not conn.is_in_transaction():
            return False
        await conn.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}; RELEASE SAVEPOINT {_SAVEPOINT}")
        return True

    async def commit(self) -> None:
        await self._connection().execute("COMMIT")

    async def rollback(self) -> None:
        conn = self._conn
        if conn is not None and not conn.is_closed() and conn.is_in_transaction():
            await conn.execute("ROLLBACK")

    def transaction(self) -> _PostgresTransaction:
        assert self._txn is not None
        return self._txn

    def _connection(self) -> asyncpg.Connection:
        assert self._conn is not None
        return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            await self._pool.release(self._conn)
            self._conn = None

    async def abort(self) -> None:
        """Drop the connection under a statement that never ended; the server rolls back."""
        if self._conn is not None:
            self._conn.terminate()
            await self._pool.release(self._conn)
            self._conn = None


class PostgresDatabase(Database):
    engine = "postgres"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._writer = _PostgresWriter(pool)
        self._committer = GroupCommitter(self._writer)
        self._closed = False

    @classmethod
    async def open(cls, dsn: str, *, min_size: int = 2, max_size: int = 10) -> PostgresDatabase:
        try:
            # JIT compilation pays off for long analytic queries; Veche's are all short, and
            # a misestimated plan crossing jit_above_cost spent 100-250 ms compiling a 3 ms lookup.
            pool = await asyncpg.create_pool(
                dsn, min_size=min_size, max_size=max_size, server_settings={"jit": "off"}
            )
        except (OSError, asyncpg.PostgresError) as e:
            raise DatabaseError(f"cannot connect to PostgreSQL: {e}") from e
        return cls(pool)

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        return self._committer.transaction()

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        try:
            return [tuple(r) for r in await self._pool.fetch(to_postgres(sql), *args)]
        except asyncpg.DataError as e:
            raise InvalidValue(str(e)) from e

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if await self._committer.close():
            await self._writer.close()
        else:
            logger.warning("closing the database with a write transaction still under way")
            await self._writer.abort()
        await self._pool.close()
