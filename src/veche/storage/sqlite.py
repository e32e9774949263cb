"""The SQLite engine: stdlib sqlite3 in WAL mode, kept off the event loop.

One writer connection on its own thread takes every write transaction in turn (SQLite
allows one writer anyway), and commits the transactions queued together at once (see
veche.storage.group_commit), so concurrent writers share one fsync. Reads outside
transactions go to a few reader connections on their own threads; WAL lets them run
while the writer writes, each seeing the last committed state.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import orjson

from veche.storage.database import (
    Database,
    DatabaseError,
    IntegrityError,
    InvalidValue,
    Row,
    Transaction,
)
from veche.storage.group_commit import GroupCommitter, WriterConnection
from veche.storage.sql import to_sqlite

logger = logging.getLogger(__name__)

T = TypeVar("T")

_SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")
_BUSY_TIMEOUT_MS = 10_000
# Commits between two checkpoints of the WAL into the database file (SQLite's own come
# every 1,000 WAL pages, which is about as many busy commits).
CHECKPOINT_EVERY_COMMITS = 16


def _adapt(args: Sequence[Any]) -> tuple[Any, ...]:
    # Lists feed `= ANY(?)`, which sqlite reads through json_each.
    return tuple(orjson.dumps(a).decode() if isinstance(a, (list, tuple)) else a for a in args)


def _fetchall(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[Row]:
    try:
        return conn.execute(to_sqlite(sql), _adapt(args)).fetchall()
    except sqlite3.IntegrityError as e:
        raise IntegrityError(str(e)) from e
    except OverflowError as e:  # an integer past 64 bits
        raise InvalidValue(str(e)) from e


def _execute(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> int:
    try:
        return conn.execute(to_sqlite(sql), _adapt(args)).rowcount
    except sqlite3.IntegrityError as e:
        raise IntegrityError(str(e)) from e
    except OverflowError as e:  # an integer past 64 bits
        raise InvalidValue(str(e)) from e


def _executemany(conn: sqlite3.Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    try:
        conn.executemany(to_sqlite(sql), rows)
    except sqlite3.IntegrityError as e:
        raise IntegrityError(str(e)) from e
    except OverflowError as e:  # an integer past 64 bits
        raise InvalidValue(str(e)) from e


def _execute_all(conn: sqlite3.Connection, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
    try:
        for sql, args in statements:
            conn.execute(to_sqlite(sql), args)
    except sqlite3.IntegrityError as e:
        raise IntegrityError(str(e)) from e
    except OverflowError as e:  # an integer past 64 bits
        raise InvalidValue(str(e)) from e


def _checkpoint(conn: sqlite3.Connection) -> None:
    # PASSIVE: copies what no reader still needs, never waits for a lock.
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


_SAVEPOINT = "veche_txn"


def _rollback_to_savepoint(conn: sqlite3.Connection) -> bool:
    # Some errors (disk full, I/O) make SQLite roll back the whole transaction itself.
    if not conn.in_transaction:
        return False
    conn.execute(f"ROLLBACK TO {_SAVEPOINT}")
    conn.execute(f"RELEASE {_SAVEPOINT}")
    return True


class _SqliteTransaction(Transaction):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._db._on_writer(_execute, sql, args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        adapted = [_adapt(r) for r in rows]
        if adapted:
            await self._db._on_writer(_executemany, sql, adapted)

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        return await self._db._on_writer(_fetchall, sql, args)

    async def execute_all(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        # One hop to the writer thread for the lot.
        adapted = [(sql, _adapt(args)) for sql, args in statements]
        if adapted:
            await self._db._on_writer(_execute_all, adapted)


class _SqliteWriter(WriterConnection[_SqliteTransaction]):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        self._txn = _SqliteTransaction(db)

    async def begin(self) -> None:
        # IMMEDIATE takes the write lock now, so no statement inside can hit SQLITE_BUSY
        # on a lock upgrade halfway through.
        await self._db._on_writer(_execute, "BEGIN IMMEDIATE", ())

    async def savepoint(self) -> None:
        await self._db._on_writer(_execute, f"SAVEPOINT {_SAVEPOINT}", ())

    async def release_and_commit(self) -> None:
        await self._db._on_writer(_execute_all, [(f"RELEASE {_SAVEPOINT}", ()), ("COMMIT", ())])
        self._db._committed()

    async def release(self) -> None:
        await self._db._on_writer(_execute, f"RELEASE {_SAVEPOINT}", ())

    async def rollback_to_savepoint(self) -> bool:
        return await self._db._on_writer(_rollback_to_savepoint)

    async def commit(self) -> None:
        await self._db._on_writer(_execute, "COMMIT", ())
        self._db._committed()

    async def rollback(self) -> None:
        await self._db._on_writer(_rollback)

    def transaction(self) -> _SqliteTransaction:
        return self._txn


def _set_up_writer(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    # Its commits would otherwise checkpoint inside themselves (see `_committed`).
    conn.execute("PRAGMA wal_autocheckpoint=0")


def _log_checkpoint_failure(checkpoint: asyncio.Future[None]) -> None:
    if not checkpoint.cancelled() and checkpoint.exception() is not None:
        logger.warning("WAL checkpoint failed: %s", checkpoint.exception())


class SqliteDatabase(Database):
    engine = "sqlite"

    def __init__(self, path: str, synchronous: str, readers: int) -> None:
        self._path = path
        self._synchronous = synchronous
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._local = threading.local()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="sqlite-reader")
        self._checkpointer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
        self._committer = GroupCommitter(_SqliteWriter(self))
        self._commits_since_checkpoint = 0
        self._checkpointing: asyncio.Future[None] | None = None
        self._closing = self._closed = False

    @classmethod
    async def open(cls, path: str, *, synchronous: str = "FULL", readers: int = 3) -> SqliteDatabase:
        synchronous = synchronous.upper()
        if synchronous not in _SYNCHRONOUS_LEVELS:
            raise DatabaseError(f"synchronous must be one of {_SYNCHRONOUS_LEVELS}")
        if path == ":memory:" or path.startswith("file::memory:"):
            # Reader connections would each see a different, empty database.
            raise DatabaseError("an in-memory SQLite database cannot be shared; give a file path")
        db = cls(path, synchronous, readers)
        await db._run(db._writer, _set_up_writer)
        return db

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, cached_statements=512
            )
            conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    async def _run(self, executor: ThreadPoolExecutor, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise DatabaseError("database is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, lambda: fn(self._connection()))

    async def _on_writer(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._run(self._writer, lambda conn: fn(conn, *args))

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        return self._committer.transaction()

    def _committed(self) -> None:
        """A physical transaction committed: now and then, checkpoint the WAL on a thread
        of its own, so that no commit (and no client waiting for one) pays for it."""
        self._commits_since_checkpoint += 1
        if self._commits_since_checkpoint < CHECKPOINT_EVERY_COMMITS or self._closing:
            return
        if self._checkpointing is not None and not self._checkpointing.done():
            return
        self._commits_since_checkpoint = 0
        self._checkpointing = asyncio.ensure_future(self._run(self._checkpointer, _checkpoint))
        self._checkpointing.add_done_callback(_log_checkpoint_failure)

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        return await self._run(self._readers, lambda conn: _fetchall(conn, sql, args))

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if not await self._committer.close():
            logger.warning("closing the database with a write transaction still under way")
        if self._checkpointing is not None:
            await asyncio.wait([self._checkpointing])
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._shutdown)

    def _shutdown(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self._checkpointer.shutdown(wait=True)
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
