"""The portable Database interface, on every engine."""

from __future__ import annotations

import asyncio

import pytest

from veche.storage.database import Database, IntegrityError, InvalidValue


async def _make_table(db: Database) -> None:
    async with db.transaction() as txn:
        await txn.execute(
            "CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT NOT NULL UNIQUE, data BYTEA_OR_BLOB)"
            .replace("BYTEA_OR_BLOB", "BYTEA" if db.engine == "postgres" else "BLOB")
        )


async def test_engine_name(database: Database, database_engine: str) -> None:
    assert database.engine == database_engine


async def test_write_and_read_back(database: Database) -> None:
    await _make_table(database)
    async with database.transaction() as txn:
        assert await txn.execute("INSERT INTO t (id, name, data) VALUES (?, ?, ?)", 1, "a", b"\x00\x01") == 1
        await txn.executemany("INSERT INTO t (id, name) VALUES (?, ?)", [(2, "b"), (3, "c?")])
        # Reads inside the transaction see its own writes.
        assert await txn.fetchval("SELECT COUNT(*) FROM t") == 3
    assert await database.fetchone("SELECT id, name, data FROM t WHERE id = ?", 1) == (1, "a", b"\x00\x01")
    assert await database.fetchall("SELECT id FROM t WHERE name = '?' OR id > ? ORDER BY id", 1) == [(2,), (3,)]
    assert await database.fetchone("SELECT id FROM t WHERE id = ?", 99) is None
    assert await database.fetchval("SELECT id FROM t WHERE id = ?", 99) is None


async def test_any_list_parameter(database: Database) -> None:
    await _make_table(database)
    async with database.transaction() as txn:
        await txn.executemany("INSERT INTO t (id, name) VALUES (?, ?)", [(i, f"n{i}") for i in range(10)])
    rows = await database.fetchall("SELECT id FROM t WHERE id = ANY(?) ORDER BY id", [2, 5, 7, 42])
    assert rows == [(2,), (5,), (7,)]
    rows = await database.fetchall("SELECT name FROM t WHERE name = ANY(?) ORDER BY name", ["n1", "n3"])
    assert rows == [("n1",), ("n3",)]
    assert await database.fetchall("SELECT id FROM t WHERE id = ANY(?)", []) == []


async def test_upsert_and_returning(database: Database) -> None:
    await _make_table(database)
    async with database.transaction() as txn:
        await txn.execute("INSERT INTO t (id, name) VALUES (?, ?)", 1, "a")
        changed = await txn.execute("INSERT INTO t (id, name) VALUES (?, ?) ON CONFLICT (id) DO NOTHING", 1, "z")
        assert changed == 0
        await txn.execute(
            "INSERT INTO t (id, name) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name", 1, "b"
        )
        row = await txn.fetchone("INSERT INTO t (id, name) VALUES (?, ?) RETURNING id, name", 2, "c")
        assert row == (2, "c")
        assert await txn.execute("UPDATE t SET data = ? WHERE id > ?", b"x", 0) == 2
    assert await database.fetchall("SELECT id, name FROM t ORDER BY id") == [(1, "b"), (2, "c")]


async def test_rollback_on_exception(database: Database) -> None:
    await _make_table(database)
    with pytest.raises(RuntimeError):
        async with database.transaction() as txn:
            await txn.execute("INSERT INTO t (id, name) VALUES (?, ?)", 1, "a")
            raise RuntimeError("boom")
    assert await database.fetchval("SELECT COUNT(*) FROM t") == 0


async def test_integrity_error_is_portable(database: Database) -> None:
    await _make_table(database)
    await database.execute("INSERT INTO t (id, name) VALUES (?, ?)", 1, "a")
    with pytest.raises(IntegrityError):
        async with database.transaction() as txn:
            await txn.execute("INSERT INTO t (id, name) VALUES (?, ?)", 2, "a")
    # The failed transaction left nothing behind and the database is still usable.
    await database.execute("INSERT INTO t (id, name) VALUES (?, ?)", 2, "b")
    assert await database.fetchval("SELECT COUNT(*) FROM t") == 2


async def test_values_no_engine_takes_are_invalid_value(database: Database) -> None:
    await _make_table(database)
    with pytest.raises(InvalidValue):
        await database.fetchall("SELECT id FROM t WHERE id = ?", 2**64)
    with pytest.raises(InvalidValue):
        async with database.transaction() as txn:
            await txn.execute("INSERT INTO t (id, name) VALUES (?, ?)", 2**64, "a")
    if database.engine == "postgres":  # SQLite stores NUL in text
        with pytest.raises(InvalidValue):
            await database.execute("INSERT INTO t (id, name) VALUES (?, ?)", 1, "a\x00b")
    await database.execute("INSERT INTO t (id, name) VALUES (?, ?)", 1, "a")
    assert await database.fetchval("SELECT COUNT(*) FROM t") == 1


async def test_concurrent_transactions_are_serialised_safely(database: Database) -> None:
    await _make_table(database)
    await database.execute("INSERT INTO t (id, name) VALUES (?, ?)", 0, "counter")

    async def bump(i: int) -> None:
        async with database.transaction() as txn:
            await txn.execute("INSERT INTO t (id, name) VALUES (?, ?)", i, f"n{i}")

    await asyncio.gather(*(bump(i) for i in range(1, 21)))
    assert await database.fetchval("SELECT COUNT(*) FROM t") == 21


async def test_reads_do_not_see_uncommitted_writes(database: Database) -> None:
    await _make_table(database)
    async with database.transaction() as txn:
        await txn.execute("INSERT INTO t (id, name) VALUES (?, ?)", 1, "a")
        assert await database.fetchval("SELECT COUNT(*) FROM t") == 0
    assert await database.fetchval("SELECT COUNT(*) FROM t") == 1


async def test_execute_all_runs_in_order_inside_the_transaction(database: Database) -> None:
    await _make_table(database)
    with pytest.raises(IntegrityError):
        async with database.transaction() as txn:
            await txn.execute_all(
                [
                    ("INSERT INTO t (id, name) VALUES (?, ?)", (1, "a")),
                    ("UPDATE t SET name = ? WHERE id = ANY(?)", ("b", [1])),
                    ("INSERT INTO t (id, name) VALUES (?, ?)", (2, "b")),
                ]
            )
    assert await database.fetchval("SELECT COUNT(*) FROM t") == 0
    async with database.transaction() as txn:
        await txn.execute_all([("INSERT INTO t (id, name) VALUES (?, ?)", (i, f"n{i}")) for i in range(3)])
        await txn.execute_all([])
    assert await database.fetchall("SELECT name FROM t ORDER BY id") == [("n0",), ("n1",), ("n2",)]
