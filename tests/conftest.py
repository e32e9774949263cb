"""Shared fixtures: every test that takes a database runs on SQLite and, when
VECHE_TEST_POSTGRES holds a DSN, on PostgreSQL too; runs leave nothing behind.

- `database_engine`: "sqlite" or "postgres" (the parametrisation point; override it in a
  conftest to pin one engine).
- `database_target`: a fresh, empty database (a SQLite path, or a DSN selecting a new
  schema) — for tests of the migrations themselves.
- `migrated_database_target`: an empty database with every migration applied, without
  paying for the migrations per test: a copy of a once-migrated SQLite file, or on
  PostgreSQL one schema migrated once per session whose tables are emptied after each test.
- `database`: an opened `Database` on `migrated_database_target`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import urllib.parse
from dataclasses import dataclass
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from veche.storage.database import Database, open_database

POSTGRES_DSN_ENV = "VECHE_TEST_POSTGRES"


def _with_search_path(dsn: str, schema: str) -> str:
    parts = urllib.parse.urlsplit(dsn)
    query = urllib.parse.parse_qsl(parts.query)
    query = [(k, v) for k, v in query if k != "search_path"] + [("search_path", schema)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


async def _admin(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _migrate(target: str) -> None:
    db = await open_database(target)
    await db.close()


def _run_aside(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion on its own loop, even from inside a running one."""
    with ThreadPoolExecutor(1) as executor:
        executor.submit(asyncio.run, coroutine).result()


@pytest.fixture(params=["sqlite", "postgres"])
def database_engine(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and not os.environ.get(POSTGRES_DSN_ENV):
        pytest.skip(f"{POSTGRES_DSN_ENV} is not set")
    return request.param


@pytest.fixture
async def database_target(database_engine: str, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database: a SQLite file path, or a DSN selecting a new schema."""
    if database_engine == "sqlite":
        yield str(tmp_path / "veche.db")
        return
    dsn = os.environ[POSTGRES_DSN_ENV]
    schema = f"test_{secrets.token_hex(6)}"
    await _admin(dsn, f"CREATE SCHEMA {schema}")
    try:
        yield _with_search_path(dsn, schema)
    finally:
        await _admin(dsn, f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "veche.db"
    _run_aside(_migrate(str(path)))
    return path


@dataclass(frozen=True)
class _MigratedSchema:
    target: str
    tables: frozenset[str]
    # Rows the migrations themselves wrote (progress markers and such), per table.
    seed_rows: dict[str, list[asyncpg.Record]]


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[_MigratedSchema]:
    """A schema migrated once per session; tests empty it after use."""
    dsn = os.environ[POSTGRES_DSN_ENV]
    schema = f"test_session_{secrets.token_hex(4)}"
    _run_aside(_admin(dsn, f"CREATE SCHEMA {schema}"))
    try:
        target = _with_search_path(dsn, schema)
        _run_aside(_migrate(target))
        seed_rows: dict[str, list[asyncpg.Record]] = {}
        _run_aside(_read_seed_rows(target, seed_rows))
        yield _MigratedSchema(target, frozenset(seed_rows), {t: r for t, r in seed_rows.items() if r})
    finally:
        _run_aside(_admin(dsn, f"DROP SCHEMA {schema} CASCADE"))


async def _connect(target: str) -> asyncpg.Connection:
    return await asyncpg.connect(target.split("?")[0], server_settings={"search_path": _schema_of(target)})


async def _read_seed_rows(target: str, into: dict[str, list[asyncpg.Record]]) -> None:
    conn = await _connect(target)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        for (table,) in rows:
            into[table] = await conn.fetch(f'SELECT * FROM "{table}"')
    finally:
        await conn.close()


async def _reset_schema(schema: _MigratedSchema) -> None:
    # Creating or dropping a database per test costs seconds of fsync here, and so does
    # TRUNCATE (new files per table); deleting the few rows a test wrote costs milliseconds.
    # Tables a test created itself are dropped; rows the migrations wrote are put back.
    conn = await _connect(schema.target)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        present = {row[0] for row in rows}
        async with conn.transaction():
            # Foreign keys would dictate an order; replica mode skips their triggers.
            await conn.execute("SET LOCAL session_replication_role = replica")
            extra = present - schema.tables
            if extra:
                await conn.execute("DROP TABLE " + ", ".join(f'"{t}"' for t in extra) + " CASCADE")
            await conn.execute("".join(f'DELETE FROM "{t}";' for t in present & schema.tables))
            for table, seed in schema.seed_rows.items():
                columns = ", ".join(f'"{c}"' for c in seed[0].keys())
                await conn.copy_records_to_table(table, records=seed, columns=list(seed[0].keys()))
    finally:
        await conn.close()


def _schema_of(target: str) -> str:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(target).query))["search_path"]


@pytest.fixture
async def migrated_database_target(
    database_engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """A database with the whole schema and no rows, without running migrations per test."""
    if database_engine == "sqlite":
        path = tmp_path / "veche.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield str(path)
        return
    schema = request.getfixturevalue("postgres_schema")
    try:
        yield schema.target
    finally:
        await _reset_schema(schema)


@pytest.fixture
async def database(migrated_database_target: str) -> AsyncIterator[Database]:
    """An opened, migrated database."""
    db = await open_database(migrated_database_target)
    try:
        yield db
    finally:
        await db.close()
