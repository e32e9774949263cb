"""The one database interface every store codes against, whatever the engine.

SQL is written once, with `?` placeholders, in a subset both engines understand:
`INSERT … ON CONFLICT … DO NOTHING / DO UPDATE`, `RETURNING`, row values, recursive CTEs.
Two additions are translated per engine:

* `col = ANY(?)` with a Python list or tuple as the argument: a batch lookup that stays
  one prepared statement whatever the list length (PostgreSQL arrays; SQLite `json_each`).
* `?` is rewritten to `$1, $2, …` for asyncpg (outside string literals and quoted names).

Rows are always plain tuples on both engines.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal

Engine = Literal["sqlite", "postgres"]
Row = tuple[Any, ...]


class Transaction(abc.ABC):
    """The statements of one write transaction; valid only inside `Database.transaction()`."""

    @abc.abstractmethod
    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement and return the number of rows it changed."""

    @abc.abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per row of arguments."""

    @abc.abstractmethod
    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        """Run a query and return all its rows."""

    async def execute_all(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        """Run (sql, args) statements in order; engines may do it in one round trip."""
        for sql, args in statements:
            await self.execute(sql, *args)

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetchall(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = await self.fetchone(sql, *args)
        return row[0] if row else None


class Database(abc.ABC):
    """A connection pool to one database; reads on it run outside any write transaction."""

    engine: Engine

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """`async with db.transaction() as txn:` commits on normal exit, rolls back on error."""

    @abc.abstractmethod
    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        """Run a read-only query in autocommit mode."""

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetchall(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchone(sql, *args)
        return row[0] if row else None

    async def execute(self, sql: str, *args: Any) -> int:
        """One statement in its own transaction."""
        async with self.transaction() as txn:
            return await txn.execute(sql, *args)

    @abc.abstractmethod
    async def close(self) -> None:
        """Close every connection; the object is unusable afterwards."""


class DatabaseError(Exception):
    """An error raised by the storage layer itself; other driver errors pass through unchanged."""


class IntegrityError(DatabaseError):
    """A constraint (unique, foreign key, not null, check) refused a statement, on either engine."""


class InvalidValue(DatabaseError):
    """A parameter the engine cannot take: text holding NUL (PostgreSQL), an integer past
    64 bits. It came from a request, so it is bad input rather than a server fault."""


# The escape character of the LIKE patterns built from user input: `LIKE ? ESCAPE '!'`.
LIKE_ESCAPE = "!"


def escape_like(text: str) -> str:
    """`text` with LIKE's wildcards (and the escape character) escaped by LIKE_ESCAPE."""
    for special in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, LIKE_ESCAPE + special)
    return text


def contains_pattern(text: str) -> str:
    """A LIKE pattern (with ESCAPE LIKE_ESCAPE) matching any text that contains `text`."""
    return f"%{escape_like(text)}%"


def is_postgres_target(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


async def connect(target: str, *, synchronous: str = "FULL") -> Database:
    """Open a database without touching its schema.

    `target` is a `postgresql://` DSN (extra query parameters such as `search_path=…` become
    server settings) or a SQLite file path. `synchronous` is SQLite's durability level;
    FULL means an acknowledged commit survives a power cut.
    """
    if is_postgres_target(target):
        from veche.storage.postgres import PostgresDatabase

        return await PostgresDatabase.open(target)
    from veche.storage.sqlite import SqliteDatabase

    return await SqliteDatabase.open(target, synchronous=synchronous)


async def open_database(target: str, *, synchronous: str = "FULL") -> Database:
    """Open a database and bring its schema up to date (see `veche.storage.migrate`)."""
    from veche.storage.migrate import apply_migrations

    db = await connect(target, synchronous=synchronous)
    try:
        await apply_migrations(db)
    except BaseException:
        await db.close()
        raise
    return db

