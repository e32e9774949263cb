"""SQLite-only settings: WAL, durability, foreign keys."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from veche.storage.database import DatabaseError, connect
from veche.storage.sqlite import CHECKPOINT_EVERY_COMMITS


async def test_pragmas(tmp_path: Path) -> None:
    db = await connect(str(tmp_path / "a.db"))
    try:
        assert await db.fetchval("PRAGMA journal_mode") == "wal"
        assert await db.fetchval("PRAGMA foreign_keys") == 1
        assert await db.fetchval("PRAGMA synchronous") == 2  # FULL
    finally:
        await db.close()


async def test_synchronous_is_configurable(tmp_path: Path) -> None:
    db = await connect(str(tmp_path / "a.db"), synchronous="normal")
    try:
        assert await db.fetchval("PRAGMA synchronous") == 1
    finally:
        await db.close()
    with pytest.raises(DatabaseError):
        await connect(str(tmp_path / "a.db"), synchronous="sometimes")


async def test_in_memory_is_refused() -> None:
    with pytest.raises(DatabaseError):
        await connect(":memory:")


def _create_table(path: Path) -> None:
    # Outside WAL mode, so the table is in the database file itself from the start.
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.commit()
    conn.close()


def _rows_in_database_file(path: Path) -> int:
    # immutable=1 reads the database file alone, without the WAL.
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM t").fetchone()[0]
    finally:
        conn.close()


async def test_the_wal_is_checkpointed_off_the_writer_every_few_commits(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    _create_table(path)
    db = await connect(str(path))
    try:
        for i in range(CHECKPOINT_EVERY_COMMITS - 1):
            await db.execute("INSERT INTO t (x) VALUES (?)", i)
        assert db._checkpointing is None
        assert _rows_in_database_file(path) == 0  # in the WAL only: commits do not checkpoint
        await db.execute("INSERT INTO t (x) VALUES (?)", -1)
        assert db._checkpointing is not None
        await db._checkpointing
        assert _rows_in_database_file(path) == CHECKPOINT_EVERY_COMMITS
    finally:
        await db.close()
