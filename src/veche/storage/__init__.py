"""Storage: one async database interface over SQLite and PostgreSQL, and the stores.

Opening
    `db = await open_database(target)` (veche.storage.database): `target` is a
    `postgresql://` DSN or a SQLite file path; migrations are applied on open.

Interface (both engines; rows are plain tuples)
    async with db.transaction() as txn:          # commit on exit, rollback on exception
        await txn.execute(sql, *args) -> int      # rows changed
        await txn.executemany(sql, rows)
        await txn.fetchall / fetchone / fetchval(sql, *args)
    await db.fetchall / fetchone / fetchval(sql, *args)   # autocommit reads
    await db.execute(sql, *args)                 # one statement in its own transaction
    db.engine                                    # "sqlite" | "postgres"

    SQL uses `?` placeholders; `col = ANY(?)` takes a Python list (batch lookups). Constraint
    violations raise `veche.storage.database.IntegrityError` on both engines.

Migrations
    `storage/migrations/NNNN_name.sql`, each applied in one transaction with its
    `schema_migrations` row; macros `{{ID_PK}}` and `{{BYTES}}` cover the dialect
    differences (see veche.storage.migrate).
"""
