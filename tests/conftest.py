"""Shared fixtures: every test that takes `database` or `database_target` runs on SQLite and,
when VECHE_TEST_POSTGRES holds a DSN, on PostgreSQL too (each test in a fresh schema that is
dropped afterwards, so runs leave nothing behind)."""

from __future__ import annotations

import os
import secrets
import urllib.parse
from collections.abc import AsyncIterator

import asyncpg
import pytest

from veche.storage.database import Database, open_database

POSTGRES_DSN_ENV = "VECHE_TEST_POSTGRES"


def _with_search_path(dsn: str, schema: str) -> str:
    parts = urllib.parse.urlsplit(dsn)
    query = urllib.parse.parse_qsl(parts.query)
    query = [(k, v) for k, v in query if k != "search_path"] + [("search_path", schema)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


@pytest.fixture(params=["sqlite", "postgres"])
async def database_target(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:
    """A target for `open_database`: a fresh SQLite file, or a DSN selecting a fresh schema."""
    if request.param == "sqlite":
        yield str(tmp_path / "veche.db")
        return
    dsn = os.environ.get(POSTGRES_DSN_ENV)
    if not dsn:
        pytest.skip(f"{POSTGRES_DSN_ENV} is not set")
    schema = f"test_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
    finally:
        await conn.close()
    try:
        yield _with_search_path(dsn, schema)
    finally:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        finally:
            await conn.close()


@pytest.fixture
async def database(database_target: str) -> AsyncIterator[Database]:
    """An opened, migrated database on `database_target`."""
    db = await open_database(database_target)
    try:
        yield db
    finally:
        await db.close()
