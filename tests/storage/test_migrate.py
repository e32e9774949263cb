"""Schema migrations on every engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from veche.storage.database import DatabaseError, connect, open_database
from veche.storage.migrate import (
    SchemaTooNew,
    apply_migrations,
    load_migrations,
    schema_version,
)


def _write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


async def _tables(db) -> set[str]:
    if db.engine == "sqlite":
        rows = await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = await db.fetchall("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return {r[0] for r in rows}


async def test_fresh_apply_and_reopen_is_idempotent(database_target: str) -> None:
    newest = load_migrations()[-1].version
    db = await open_database(database_target)
    try:
        assert await schema_version(db) == newest
        assert {"events", "rooms", "state_snapshots", "schema_migrations"} <= await _tables(db)
    finally:
        await db.close()
    db = await open_database(database_target)
    try:
        assert await schema_version(db) == newest
        assert await db.fetchval("SELECT COUNT(*) FROM schema_migrations") == len(load_migrations())
    finally:
        await db.close()


async def test_macros_are_substituted(database_target: str, tmp_path: Path) -> None:
    migrations = _write(
        tmp_path / "m",
        {
            "0001_one.sql": (
                "CREATE TABLE a (id {{ID_PK}}, data {{BYTES}});\n"
                "CREATE TABLE b (id {{INT64_PK}});\n"
                "CREATE TABLE c (x BIGINT, y BIGINT, PRIMARY KEY (x, y)) {{WITHOUT_ROWID}};\n"
            )
        },
    )
    db = await connect(database_target)
    try:
        assert await apply_migrations(db, migrations) == 1
        async with db.transaction() as txn:
            first = await txn.fetchval("INSERT INTO a (data) VALUES (?) RETURNING id", b"x")
            second = await txn.fetchval("INSERT INTO a (data) VALUES (?) RETURNING id", b"y")
        assert second > first
        await db.execute("INSERT INTO b (id) VALUES (?)", 2**40)
        await db.execute("INSERT INTO c (x, y) VALUES (?, ?)", 1, 2)
        assert await db.fetchval("SELECT id FROM b") == 2**40
    finally:
        await db.close()


async def test_unknown_macro_is_an_error(database_target: str, tmp_path: Path) -> None:
    migrations = _write(tmp_path / "m", {"0001_one.sql": "CREATE TABLE a (x {{NOPE}});"})
    db = await connect(database_target)
    try:
        with pytest.raises(DatabaseError, match="NOPE"):
            await apply_migrations(db, migrations)
    finally:
        await db.close()


async def test_newer_database_is_refused(database_target: str, tmp_path: Path) -> None:
    newer = _write(
        tmp_path / "newer",
        {"0001_one.sql": "CREATE TABLE a (x INTEGER);", "0002_two.sql": "CREATE TABLE b (x INTEGER);"},
    )
    older = _write(tmp_path / "older", {"0001_one.sql": "CREATE TABLE a (x INTEGER);"})
    db = await connect(database_target)
    try:
        assert await apply_migrations(db, newer) == 2
        with pytest.raises(SchemaTooNew, match="version 2"):
            await apply_migrations(db, older)
    finally:
        await db.close()


async def test_failed_migration_leaves_previous_version(database_target: str, tmp_path: Path) -> None:
    migrations = _write(
        tmp_path / "m",
        {
            "0001_one.sql": "CREATE TABLE a (x INTEGER);",
            "0002_two.sql": (
                "CREATE TABLE b (x INTEGER);\n"
                "INSERT INTO a (x) VALUES (1);\n"
                "INSERT INTO no_such_table (x) VALUES (1);\n"
            ),
        },
    )
    db = await connect(database_target)
    try:
        with pytest.raises(Exception, match="no_such_table"):
            await apply_migrations(db, migrations)
        assert await schema_version(db) == 1
        tables = await _tables(db)
        assert "a" in tables and "b" not in tables
        assert await db.fetchval("SELECT COUNT(*) FROM a") == 0
        # Fixing the migration and opening again carries on from version 1.
        _write(migrations, {"0002_two.sql": "CREATE TABLE b (x INTEGER);"})
        assert await apply_migrations(db, migrations) == 2
    finally:
        await db.close()


def test_migration_file_names_are_checked(tmp_path: Path) -> None:
    _write(tmp_path / "m", {"1_bad.sql": ""})
    with pytest.raises(DatabaseError, match="NNNN_name"):
        load_migrations(tmp_path / "m")
