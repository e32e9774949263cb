"""SQLite-only settings: WAL, durability, foreign keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from veche.storage.database import DatabaseError, connect


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
