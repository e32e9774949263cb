"""Interning identifiers as nids, on every engine."""

from __future__ import annotations

from veche.storage.database import Database
from veche.storage.interning import AfterCommit, StringInterner


def _event_ids(database: Database) -> StringInterner:
    return StringInterner(database.engine, "event_ids", "event_nid", "event_id")


async def test_intern_new_creates_the_new_and_finds_the_existing(database: Database) -> None:
    after = AfterCommit()
    async with database.transaction() as txn:
        existing, created = await _event_ids(database).intern_one(txn, "$old:test", after)
    assert created

    # A cold interner (nothing cached) meets one known ID among new ones.
    interner = _event_ids(database)
    after = AfterCommit()
    async with database.transaction() as txn:
        nids, made = await interner.intern_new(txn, ["$new2:test", "$old:test", "$new1:test"], after)
    after.run()
    assert made == {"$new1:test", "$new2:test"}
    assert nids["$old:test"] == existing
    assert len(set(nids.values())) == 3
    assert await interner.lookup(database, nids) == nids
    # Cached once committed: asking again touches no table.
    async with database.transaction() as txn:
        assert await interner.intern_new(txn, list(nids), AfterCommit()) == (nids, set())
