"""Mapping identifiers to small integers ("nids") once, so hot tables hold integers.

Interned ids never change once committed, so both directions are cached. A nid created
inside a transaction is only cached after that transaction commits (`AfterCommit`): a
rolled-back nid may be handed out again for something else.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection, Hashable, Iterable
from typing import Generic, TypeVar

from veche.storage.cache import LruCache
from veche.storage.database import Database, Engine, Transaction
from veche.storage.id_probe import select_by_ids

K = TypeVar("K", bound=Hashable)
_FEW = 4
Reader = Database | Transaction


class AfterCommit:
    """Work (cache fills, invalidations) to run once the current transaction has committed."""

    def __init__(self) -> None:
        self._actions: list[Callable[[], None]] = []

    def add(self, action: Callable[[], None]) -> None:
        self._actions.append(action)

    def run(self) -> None:
        for action in self._actions:
            action()
        self._actions.clear()


class _Interner(abc.ABC, Generic[K]):
    """Shared logic; subclasses say how keys are selected and inserted."""

    _table: str
    _nid_column: str

    def __init__(self, cache_size: int) -> None:
        self._by_key: LruCache[K, int] = LruCache(cache_size)
        self._by_nid: LruCache[int, K] = LruCache(cache_size)

    @abc.abstractmethod
    async def _select_by_keys(self, reader: Reader, keys: list[K]) -> dict[K, int]: ...

    @abc.abstractmethod
    async def _select_by_nids(self, reader: Reader, nids: list[int]) -> dict[int, K]: ...

    @abc.abstractmethod
    async def _insert(self, txn: Transaction, keys: list[K]) -> None: ...

    @abc.abstractmethod
    async def _insert_returning(self, txn: Transaction, key: K) -> int | None:
        """Insert one key; its new nid, or None when it already existed."""

    def _remember(self, found: dict[K, int]) -> None:
        for key, nid in found.items():
            self._by_key.set(key, nid)
            self._by_nid.set(nid, key)

    async def lookup(self, reader: Reader, keys: Iterable[K]) -> dict[K, int]:
        """Nids of the keys that are already interned; unknown keys are left out."""
        found, missing = self._by_key.get_many(set(keys))
        if missing:
            fetched = await self._select_by_keys(reader, missing)
            if isinstance(reader, Database):
                self._remember(fetched)
            found.update(fetched)
        return found

    async def resolve(self, reader: Reader, nids: Iterable[int]) -> dict[int, K]:
        """The keys of interned nids."""
        found, missing = self._by_nid.get_many(set(nids))
        if missing:
            fetched = await self._select_by_nids(reader, missing)
            if isinstance(reader, Database):
                self._remember({key: nid for nid, key in fetched.items()})
            found.update(fetched)
        return found

    async def intern(self, txn: Transaction, keys: Collection[K], after: AfterCommit) -> dict[K, int]:
        """Nids for all `keys`, creating the missing ones inside `txn`."""
        found, missing = self._by_key.get_many(set(keys))
        if not missing:
            return found
        # A fixed order keeps concurrent PostgreSQL transactions from deadlocking on the
        # unique index.
        missing.sort()
        if len(missing) <= _FEW:
            # Usually new: one INSERT … RETURNING each; a key that existed uncached costs a
            # second query.
            existing = []
            for key in missing:
                nid = await self._insert_returning(txn, key)
                if nid is None:
                    existing.append(key)
                else:
                    found[key] = nid
            if existing:
                found.update(await self._select_by_keys(txn, existing))
        else:
            found.update(await self._select_by_keys(txn, missing))
            new = [k for k in missing if k not in found]
            if new:
                await self._insert(txn, new)
                found.update(await self._select_by_keys(txn, new))
        after.add(lambda: self._remember(found))
        return found


class StringInterner(_Interner[str]):
    """A table (nid, value TEXT UNIQUE): event IDs, user IDs."""

    def __init__(
        self, engine: Engine, table: str, nid_column: str, value_column: str, cache_size: int = 50_000
    ) -> None:
        super().__init__(cache_size)
        self._table = table
        self._nid_column = nid_column
        self._value_column = value_column
        # Probed per value on PostgreSQL, which without planner statistics scanned the
        # whole table instead (1.4 ms rather than 0.45 for 100 of 10,000 event IDs).
        self._select_nids = select_by_ids(engine, f"i.{value_column}, i.{nid_column}", table, value_column)
        # A multi-row insert that may abort halfway keeps a statement journal of every
        # page it changes, which past 64 KiB (16 new event IDs land on as many pages of
        # the unique index) SQLite spills to a file created and deleted for each send
        # batch. Ignoring conflicts, it cannot abort and keeps none.
        self._insert_new = (
            f"INSERT OR IGNORE INTO {table} ({value_column}) VALUES {{}}"
            if engine == "sqlite"
            else f"INSERT INTO {table} ({value_column}) VALUES {{}} ON CONFLICT ({value_column}) DO NOTHING"
        ) + f" RETURNING {value_column}, {nid_column}"

    async def _select_by_keys(self, reader: Reader, keys: list[str]) -> dict[str, int]:
        return dict(await reader.fetchall(self._select_nids, keys))

    async def _select_by_nids(self, reader: Reader, nids: list[int]) -> dict[int, str]:
        rows = await reader.fetchall(
            f"SELECT {self._nid_column}, {self._value_column} FROM {self._table}"
            f" WHERE {self._nid_column} = ANY(?)",
            nids,
        )
        return dict(rows)

    async def _insert(self, txn: Transaction, keys: list[str]) -> None:
        await txn.executemany(
            f"INSERT INTO {self._table} ({self._value_column}) VALUES (?)"
            f" ON CONFLICT ({self._value_column}) DO NOTHING",
            [(k,) for k in keys],
        )


    async def _insert_returning(self, txn: Transaction, key: str) -> int | None:
        return await txn.fetchval(
            f"INSERT INTO {self._table} ({self._value_column}) VALUES (?)"
            f" ON CONFLICT ({self._value_column}) DO NOTHING RETURNING {self._nid_column}",
            key,
        )

    async def intern_new(
        self, txn: Transaction, values: list[str], after: AfterCommit
    ) -> tuple[dict[str, int], set[str]]:
        """Nids of `values`, which are usually new, in one statement (one more for those
        that existed uncached); and which of them this call created."""
        found, missing = self._by_key.get_many(set(values))
        if not missing:
            return found, set()
        # Sorted, as in `intern`, against deadlocks on PostgreSQL's unique index.
        missing.sort()
        # Padded to a power of two by repeating the last value (the repeats conflict and are
        # skipped), so that a connection's cache of prepared statements (PostgreSQL) holds a
        # few texts of this statement, not one per batch size.
        padding = [missing[-1]] * ((1 << (len(missing) - 1).bit_length()) - len(missing))
        rows = await txn.fetchall(
            self._insert_new.format(", ".join(["(?)"] * (len(missing) + len(padding)))), *missing, *padding
        )
        created = dict(rows)
        found.update(created)
        existing = [v for v in missing if v not in created]
        if existing:
            found.update(await self._select_by_keys(txn, existing))
        after.add(lambda: self._remember(found))
        return found, set(created)

    async def intern_one(self, txn: Transaction, value: str, after: AfterCommit) -> tuple[int, bool]:
        """The nid of `value`, and whether this call created it (so nothing refers to it yet)."""
        nid = self._by_key.get(value)
        if nid is not None:
            return nid, False
        nid = await self._insert_returning(txn, value)
        created = nid is not None
        if not created:
            nid = (await self._select_by_keys(txn, [value]))[value]
        after.add(lambda: self._remember({value: nid}))
        return nid, created


class StateKeyInterner(_Interner[tuple[str, str]]):
    """(event type, state key) pairs."""

    _table = "state_keys"
    _nid_column = "state_key_nid"

    def __init__(self, cache_size: int = 50_000) -> None:
        super().__init__(cache_size)

    async def _select_by_keys(self, reader: Reader, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
        # Matching each column against its own list is portable; the few extra rows of the
        # cross product are dropped here.
        wanted = set(keys)
        rows = await reader.fetchall(
            "SELECT event_type, state_key, state_key_nid FROM state_keys"
            " WHERE event_type = ANY(?) AND state_key = ANY(?)",
            sorted({t for t, _ in wanted}),
            sorted({s for _, s in wanted}),
        )
        return {(t, s): nid for t, s, nid in rows if (t, s) in wanted}

    async def _select_by_nids(self, reader: Reader, nids: list[int]) -> dict[int, tuple[str, str]]:
        rows = await reader.fetchall(
            "SELECT state_key_nid, event_type, state_key FROM state_keys WHERE state_key_nid = ANY(?)",
            nids,
        )
        return {nid: (t, s) for nid, t, s in rows}

    async def _insert(self, txn: Transaction, keys: list[tuple[str, str]]) -> None:
        await txn.executemany(
            "INSERT INTO state_keys (event_type, state_key) VALUES (?, ?)"
            " ON CONFLICT (event_type, state_key) DO NOTHING",
            keys,
        )

    async def _insert_returning(self, txn: Transaction, key: tuple[str, str]) -> int | None:
        return await txn.fetchval(
            "INSERT INTO state_keys (event_type, state_key) VALUES (?, ?)"
            " ON CONFLICT (event_type, state_key) DO NOTHING RETURNING state_key_nid",
            *key,
        )
