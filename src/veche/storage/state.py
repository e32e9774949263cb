"""Room state: immutable snapshots (the state after each event) and each room's current state.

A snapshot maps state_key_nid → event_nid. It is stored as a delta against a parent snapshot,
chains bounded by MAX_CHAIN_LENGTH (past that, or when the delta is not much smaller than
the state, a full copy is stored), and named by a hash of its contents so the same state is
stored once. Loading one walks its chain in one recursive query; snapshots never change, so
they are cached by nid.
"""

from __future__ import annotations

import hashlib
import sys
from array import array
from collections.abc import Iterable, Mapping
from itertools import chain

from veche.protocol.events import StateKey
from veche.storage.cache import LruCache
from veche.storage.database import Database, Engine, Transaction
from veche.storage.id_probe import select_by_ids
from veche.storage.interning import AfterCommit, StateKeyInterner, StringInterner
from veche.storage.rooms import RoomStore

MAX_CHAIN_LENGTH = 32
# Snapshots whose chains hold at most this many entries are built in full when picked from
# (`StateStore._pick_entries`).
SMALL_STATE_ENTRIES = 100

NidState = Mapping[int, int]
"""State as state_key_nid → event_nid."""
SnapshotMemo = dict[int, tuple[int, NidState]]
"""Snapshots one transaction has stored or read: nid → (chain length, contents). The shared
cache learns them only once the transaction commits; the transaction's later events need
them at once."""

_REMOVED = 0  # event_nid in a delta that removes the key; real nids start at 1

# The snapshot after each event, by event ID (see `veche.storage.id_probe`): without
# planner statistics PostgreSQL scanned the whole of event_ids and event_state rather
# than probe the index per ID (2.8 ms instead of 0.5 for 100 IDs among 13,000 events).
_SNAPSHOTS_BY_EVENT_ID: dict[Engine, str] = {
    engine: select_by_ids(
        engine, "i.event_id, s.snapshot_nid", "event_ids", "event_id", " JOIN event_state s ON s.event_nid = i.event_nid"
    )
    for engine in ("postgres", "sqlite")
}


def _pack(ints: Iterable[int]) -> bytes:
    packed = array("q", ints)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def _chains_of(engine: Engine, columns: str) -> str:
    """Every snapshot on the delta chains of the snapshots in the statement's one list
    parameter, with `columns` of each (the snapshot aliased `s`).

    On PostgreSQL each step probes the primary key (LATERAL … LIMIT 1): without planner
    statistics it hash-joined every step, and the final rows, against a scan of the whole
    table (14.2 ms → 1.7 ms for 100 snapshots of the bench's database). SQLite probes anyway.
    """
    if engine == "postgres":
        step = (
            "chain c CROSS JOIN LATERAL (SELECT x.snapshot_nid, x.parent_nid FROM state_snapshots x"
            " WHERE x.snapshot_nid = c.parent_nid LIMIT 1) s"
        )
        rows = "chain c CROSS JOIN LATERAL (SELECT * FROM state_snapshots x WHERE x.snapshot_nid = c.snapshot_nid LIMIT 1) s"
    else:
        step = "state_snapshots s JOIN chain c ON s.snapshot_nid = c.parent_nid"
        rows = "chain c JOIN state_snapshots s ON s.snapshot_nid = c.snapshot_nid"
    return (
        "WITH RECURSIVE chain (snapshot_nid, parent_nid) AS ("
        " SELECT snapshot_nid, parent_nid FROM state_snapshots WHERE snapshot_nid = ANY(?)"
        f" UNION SELECT s.snapshot_nid, s.parent_nid FROM {step}"
        f") SELECT {columns} FROM {rows}"
    )


def _unpack_pairs(data: bytes) -> Iterable[tuple[int, int]]:
    values = array("q")
    values.frombytes(data)
    if sys.byteorder == "big":
        values.byteswap()
    it = iter(values)
    return zip(it, it)


def _small_state(
    nid: int, parent_of: Mapping[int, int | None], deltas: Mapping[int, dict[int, int]], built: dict[int, dict[int, int]]
) -> dict[int, int] | None:
    """The full state of snapshot `nid` built from its chain's deltas (`built` keeps the
    states built so far, shared by chains with common links), or None when the chain
    holds more than SMALL_STATE_ENTRIES entries."""
    chain: list[int] = []
    size = 0
    link: int | None = nid
    while link is not None and link not in built:
        chain.append(link)
        size += len(deltas[link])
        link = parent_of[link]
    state = built[link] if link is not None else {}
    if size + len(state) > SMALL_STATE_ENTRIES:
        return None
    for link in reversed(chain):
        state = dict(state)
        for key, event_nid in deltas[link].items():
            if event_nid == _REMOVED:
                state.pop(key, None)
            else:
                state[key] = event_nid
        built[link] = state
    return state


def snapshot_hash(room_nid: int, state: NidState) -> bytes:
    return hashlib.sha256(_pack(chain((room_nid,), chain.from_iterable(sorted(state.items()))))).digest()


class StateStore:
    def __init__(
        self,
        db: Database,
        event_ids: StringInterner,
        state_keys: StateKeyInterner,
        rooms: RoomStore,
        *,
        snapshot_cache_size: int = 2_000,
        event_snapshot_cache_size: int = 20_000,
        current_state_cache_size: int = 5_000,
        state_entries_per_cache: int = 50_000,
    ) -> None:
        self._db = db
        self._event_ids = event_ids
        self._state_keys = state_keys
        self._rooms = rooms
        self._snapshots: LruCache[int, tuple[int, NidState]] = LruCache(
            snapshot_cache_size, max_weight=state_entries_per_cache, weigh=lambda loaded: len(loaded[1])
        )
        self._event_snapshot: LruCache[str, int] = LruCache(event_snapshot_cache_size)
        # room_nid → current state; a generation per room stops a read that raced a write
        # from caching what it read.
        # Grouped by event type, so asking for a few types of a big room costs only those.
        self._current: LruCache[int, dict[str, dict[str, str]]] = LruCache(
            current_state_cache_size, max_weight=state_entries_per_cache, weigh=_count_entries
        )
        self._current_generation: dict[int, int] = {}

    # Snapshots

    async def load_snapshot(
        self,
        snapshot_nid: int,
        reader: Database | Transaction | None = None,
        after: AfterCommit | None = None,
        memo: SnapshotMemo | None = None,
    ) -> NidState:
        """The full contents of a snapshot; do not modify the returned mapping.

        Read in a transaction, it is cached only through `after` once that commits (the
        snapshot may be the transaction's own, undone by a rollback), and in `memo`.
        """
        return (await self._load(snapshot_nid, reader, after, memo))[1]

    async def _load(
        self,
        snapshot_nid: int,
        reader: Database | Transaction | None,
        after: AfterCommit | None = None,
        memo: SnapshotMemo | None = None,
    ) -> tuple[int, NidState]:
        cached = self._snapshots.get(snapshot_nid)
        if cached is None and memo is not None:
            cached = memo.get(snapshot_nid)
        if cached is not None:
            return cached
        rows = await (reader or self._db).fetchall(
            "WITH RECURSIVE chain (snapshot_nid, parent_nid, chain_length, entries) AS ("
            " SELECT snapshot_nid, parent_nid, chain_length, entries FROM state_snapshots"
            " WHERE snapshot_nid = ?"
            " UNION ALL"
            " SELECT s.snapshot_nid, s.parent_nid, s.chain_length, s.entries"
            " FROM state_snapshots s JOIN chain c ON s.snapshot_nid = c.parent_nid"
            ") SELECT chain_length, entries FROM chain ORDER BY chain_length",
            snapshot_nid,
        )
        if not rows:
            raise KeyError(f"no state snapshot {snapshot_nid}")
        state: dict[int, int] = {}
        # Chain lengths fall by one towards the full copy, so ascending order applies the
        # full copy first and each delta on top of its parent.
        for _, entries in rows:
            for key, event_nid in _unpack_pairs(bytes(entries)):
                if event_nid == _REMOVED:
                    state.pop(key, None)
                else:
                    state[key] = event_nid
        loaded = (rows[-1][0], state)
        if reader is None or isinstance(reader, Database):
            self._snapshots.set(snapshot_nid, loaded)
        elif after is not None:
            after.add(lambda: self._snapshots.set(snapshot_nid, loaded))
        if memo is not None:
            memo[snapshot_nid] = loaded
        return loaded

    async def load_snapshots(self, snapshot_nids: Iterable[int]) -> dict[int, NidState]:
        """The full contents of many snapshots (committed ones), their uncached chains read
        in one query; do not modify the returned mappings."""
        loaded, missing = self._snapshots.get_many(set(snapshot_nids))
        found = {nid: state for nid, (_, state) in loaded.items()}
        if not missing:
            return found
        rows = await self._db.fetchall(
            _chains_of(self._db.engine, "s.snapshot_nid, s.parent_nid, s.chain_length, s.entries"), missing
        )
        # A parent's chain is one shorter, so ascending chain length builds each snapshot
        # on a parent already built.
        for snapshot_nid, parent_nid, chain_length, entries in sorted(rows, key=lambda row: row[2]):
            if snapshot_nid in loaded:
                continue
            state = dict(loaded[parent_nid][1]) if parent_nid is not None else {}
            for key, event_nid in _unpack_pairs(bytes(entries)):
                if event_nid == _REMOVED:
                    state.pop(key, None)
                else:
                    state[key] = event_nid
            loaded[snapshot_nid] = (chain_length, state)
        for nid in missing:
            if nid not in loaded:
                raise KeyError(f"no state snapshot {nid}")
            self._snapshots.set(nid, loaded[nid])
            found[nid] = loaded[nid][1]
        return found

    async def _pick_entries(self, wanted: Mapping[int, list[int]]) -> dict[int, dict[int, int]]:
        """For each snapshot, only the wanted state key nids → event nid (committed snapshots).

        Uncached snapshots of big rooms are answered from their chains' deltas, not built in
        full: the events of a big room's state each have a snapshot of their own, and
        building all of them at once took ~13 MB for a 1,000-member room's initial /sync.
        Those snapshots are not cached (what was built is partial). A small room's are
        built and cached: a full copy costs little more than its deltas, and otherwise
        every later /sync read the same chains again (two statements per initial sync
        after a restart).
        """
        cached, missing = self._snapshots.get_many(wanted)
        found = {nid: {k: state[k] for k in wanted[nid] if k in state} for nid, (_, state) in cached.items()}
        if not missing:
            return found
        rows = await self._db.fetchall(
            _chains_of(self._db.engine, "s.snapshot_nid, s.parent_nid, s.chain_length, s.entries"), missing
        )
        parent_of = {nid: parent for nid, parent, _, _ in rows}
        length_of = {nid: length for nid, _, length, _ in rows}
        deltas = {nid: dict(_unpack_pairs(bytes(entries))) for nid, _, _, entries in rows}
        built: dict[int, dict[int, int]] = {}
        for nid in missing:
            if nid not in deltas:
                raise KeyError(f"no state snapshot {nid}")
            state = _small_state(nid, parent_of, deltas, built)
            if state is not None:
                self._snapshots.set(nid, (length_of[nid], state))
                found[nid] = {k: state[k] for k in wanted[nid] if k in state}
                continue
            picked: dict[int, int] = {}
            for key in wanted[nid]:
                # The nearest delta naming the key holds its value (or its removal).
                link: int | None = nid
                while link is not None and key not in deltas[link]:
                    link = parent_of[link]
                if link is not None and deltas[link][key] != _REMOVED:
                    picked[key] = deltas[link][key]
            found[nid] = picked
        return found

    async def store_snapshot(
        self,
        txn: Transaction,
        room_nid: int,
        state: NidState,
        parent_nid: int | None,
        after: AfterCommit,
        *,
        memo: SnapshotMemo | None = None,
        fresh: bool = False,
    ) -> int:
        """The nid of a snapshot holding exactly `state`, stored as a delta on `parent_nid`
        when that keeps the chain bounded; an identical existing snapshot is reused.

        `fresh`: `state` holds an event nid created in this transaction, so no stored
        snapshot can equal it and none is looked for. The new snapshot enters `memo`.
        """
        digest = snapshot_hash(room_nid, state)
        if not fresh:
            existing = await txn.fetchval("SELECT snapshot_nid FROM state_snapshots WHERE hash = ?", digest)
            if existing is not None:
                return existing
        chain_length = 0
        entries: Iterable[int] = chain.from_iterable(sorted(state.items()))
        if parent_nid is not None:
            parent_length, parent_state = await self._load(parent_nid, txn, after, memo)
            delta = {k: v for k, v in state.items() if parent_state.get(k) != v}
            delta.update((k, _REMOVED) for k in parent_state if k not in state)
            if parent_length + 1 <= MAX_CHAIN_LENGTH and 2 * len(delta) <= len(state):
                chain_length = parent_length + 1
                entries = chain.from_iterable(sorted(delta.items()))
            else:
                parent_nid = None
        snapshot_nid = await txn.fetchval(
            "INSERT INTO state_snapshots (room_nid, hash, parent_nid, chain_length, entries)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING RETURNING snapshot_nid",
            room_nid,
            digest,
            parent_nid,
            chain_length,
            _pack(entries),
        )
        if snapshot_nid is None:
            # A concurrent transaction stored the same state first.
            return await txn.fetchval("SELECT snapshot_nid FROM state_snapshots WHERE hash = ?", digest)
        frozen = dict(state)
        after.add(lambda: self._snapshots.set(snapshot_nid, (chain_length, frozen)))
        if memo is not None:
            memo[snapshot_nid] = (chain_length, frozen)
        return snapshot_nid

    async def get_snapshots_after(self, event_ids: Iterable[str]) -> dict[str, int]:
        """Snapshot nid of the state after each event; events without one are left out."""
        found, missing = self._event_snapshot.get_many(set(event_ids))
        if missing:
            rows = await self._db.fetchall(_SNAPSHOTS_BY_EVENT_ID[self._db.engine], missing)
            for event_id, snapshot_nid in rows:
                self._event_snapshot.set(event_id, snapshot_nid)
                found[event_id] = snapshot_nid
        return found

    def remember_snapshot_after(self, event_id: str, snapshot_nid: int) -> None:
        self._event_snapshot.set(event_id, snapshot_nid)

    async def get_snapshot_after(self, event_id: str) -> int | None:
        return (await self.get_snapshots_after([event_id])).get(event_id)

    async def get_state_ids_after(self, event_id: str) -> dict[StateKey, str] | None:
        """The room state after `event_id`, or None when it is unknown (an outlier or no event)."""
        snapshot_nid = await self.get_snapshot_after(event_id)
        if snapshot_nid is None:
            return None
        return await self.get_snapshot_state_ids(snapshot_nid)

    async def pick_snapshot_ids(self, snapshot_nid: int, keys: Iterable[StateKey]) -> dict[StateKey, str]:
        """Only `keys` of a snapshot, as (type, state_key) → event ID; absent keys are left out.

        Costs a few cached lookups however large the state is.
        """
        key_nids = await self._state_keys.lookup(self._db, keys)
        state = await self.load_snapshot(snapshot_nid)
        picked = {key: state[nid] for key, nid in key_nids.items() if nid in state}
        event_ids = await self._event_ids.resolve(self._db, picked.values())
        return {key: event_ids[nid] for key, nid in picked.items()}

    async def pick_many_snapshot_ids(
        self, wanted: Mapping[int, Iterable[StateKey]]
    ) -> dict[int, dict[StateKey, str]]:
        """`pick_snapshot_ids` for many snapshots at once: snapshot nid → its picked keys."""
        keys_of = {nid: set(keys) for nid, keys in wanted.items()}
        key_nids = await self._state_keys.lookup(self._db, set().union(*keys_of.values()))
        states = await self._pick_entries(
            {nid: [key_nids[k] for k in keys if k in key_nids] for nid, keys in keys_of.items()}
        )
        picked = {
            nid: {key: states[nid][key_nids[key]] for key in keys if key in key_nids and key_nids[key] in states[nid]}
            for nid, keys in keys_of.items()
        }
        event_ids = await self._event_ids.resolve(self._db, (e for p in picked.values() for e in p.values()))
        return {nid: {key: event_ids[e] for key, e in p.items()} for nid, p in picked.items()}

    async def get_states_after(self, event_ids: Iterable[str]) -> dict[str, dict[StateKey, str]]:
        """`get_state_ids_after` for many events; those without a known state are left out."""
        snapshots = await self.get_snapshots_after(event_ids)
        states = await self.many_to_state_ids(await self.load_snapshots(snapshots.values()))
        return {event_id: states[nid] for event_id, nid in snapshots.items()}

    async def many_to_state_ids(self, states: Mapping[int, NidState]) -> dict[int, dict[StateKey, str]]:
        """`to_state_ids` for many states, each nid resolved once."""
        keys = await self._state_keys.resolve(self._db, {k for state in states.values() for k in state})
        event_ids = await self._event_ids.resolve(self._db, {e for state in states.values() for e in state.values()})
        return {
            name: {keys[k]: event_ids[e] for k, e in state.items()} for name, state in states.items()
        }

    async def get_snapshot_state_ids(
        self, snapshot_nid: int, types: Iterable[str] | None = None
    ) -> dict[StateKey, str]:
        return await self.to_state_ids(await self.load_snapshot(snapshot_nid), types)

    async def to_state_ids(self, state: NidState, types: Iterable[str] | None = None) -> dict[StateKey, str]:
        """Translate nids to (type, state_key) → event ID, optionally keeping only some types."""
        keys = await self._state_keys.resolve(self._db, state)
        if types is not None:
            wanted = set(types)
            keys = {nid: key for nid, key in keys.items() if key[0] in wanted}
        event_ids = await self._event_ids.resolve(self._db, (state[nid] for nid in keys))
        return {key: event_ids[state[nid]] for nid, key in keys.items()}

    async def intern_state_ids(
        self, txn: Transaction, state_ids: Mapping[StateKey, str], after: AfterCommit
    ) -> dict[int, int]:
        """Translate (type, state_key) → event ID into nids, interning what is new."""
        key_nids = await self._state_keys.intern(txn, list(state_ids), after)
        event_nids = await self._event_ids.intern(txn, set(state_ids.values()), after)
        return {key_nids[key]: event_nids[event_id] for key, event_id in state_ids.items()}

    # Current state

    async def advance_current_state(
        self,
        txn: Transaction,
        room_nid: int,
        snapshot_nid: int,
        state: NidState,
        after: AfterCommit,
        *,
        known_base: tuple[int | None, Mapping[int, int]] | None = None,
        known_keys: Mapping[int, StateKey] | None = None,
        known_event_ids: Mapping[int, str] | None = None,
        known_current: int | None = None,
        held: list[tuple[str, tuple[object, ...]]] | None = None,
    ) -> dict[StateKey, int | None]:
        """Make `state` (stored as `snapshot_nid`) the room's current state.

        Returns the changed keys: (type, state_key) → new event_nid, or None when removed.
        `known_base` = (snapshot, changes) says `state` is that snapshot plus those changes,
        which spares a full comparison when the room's current state is that snapshot.
        `known_keys` / `known_event_ids` name nids the caller created in this transaction.
        `known_current`: the room's current snapshot, when the caller made it so in this
        transaction (it is not read again). `held`: the writes go there, for the caller to
        send, instead of to the database now.
        """
        old_nid = known_current
        if old_nid is None:
            old_nid = await txn.fetchval("SELECT current_snapshot_nid FROM rooms WHERE room_nid = ?", room_nid)
        if old_nid == snapshot_nid:
            return {}
        changes: dict[int, int | None]
        if known_base is not None and known_base[0] == old_nid:
            changes = dict(known_base[1])
        else:
            old_state = await self.load_snapshot(old_nid, txn, after) if old_nid is not None else {}
            changes = {k: v for k, v in state.items() if old_state.get(k) != v}
            changes.update((k, None) for k in old_state if k not in state)
        keys = dict(known_keys or {})
        keys.update(await self._state_keys.resolve(txn, [k for k in changes if k not in keys]))
        event_ids = dict(known_event_ids or {})
        event_ids.update(
            await self._event_ids.resolve(txn, [v for v in changes.values() if v is not None and v not in event_ids])
        )
        upserts = [(room_nid, k, v) for k, v in changes.items() if v is not None]
        removals = [k for k, v in changes.items() if v is None]
        writes: list[tuple[str, tuple[object, ...]]] = [
            (
                "INSERT INTO current_state (room_nid, state_key_nid, event_nid) VALUES (?, ?, ?)"
                " ON CONFLICT (room_nid, state_key_nid) DO UPDATE SET event_nid = excluded.event_nid",
                row,
            )
            for row in upserts
        ]
        if removals:
            writes.append(
                ("DELETE FROM current_state WHERE room_nid = ? AND state_key_nid = ANY(?)", (room_nid, removals))
            )
        writes.append(("UPDATE rooms SET current_snapshot_nid = ? WHERE room_nid = ?", (snapshot_nid, room_nid)))
        if held is not None:
            held += writes
        else:
            await txn.execute_all(writes)
        # Patch the cached state rather than reload all of a big room after each change.
        resolved = {keys[k]: (event_ids[v] if v is not None else None) for k, v in changes.items()}
        after.add(lambda: self._apply_current_changes(room_nid, resolved))
        return {keys[k]: v for k, v in changes.items()}

    def _apply_current_changes(self, room_nid: int, changes: Mapping[StateKey, str | None]) -> None:
        current = self._current.get(room_nid)
        self.invalidate_current_state(room_nid)
        if current is None:
            return
        for (event_type, state_key), event_id in changes.items():
            if event_id is None:
                current.get(event_type, {}).pop(state_key, None)
            else:
                current.setdefault(event_type, {})[state_key] = event_id
        self._current.set(room_nid, current)

    def forget_room(self, room_nid: int) -> None:
        """Drop what is cached of a purged room. Its snapshots are cached by nid and by
        event ID with no index by room, and SQLite may hand a deleted snapshot's nid to a
        new one: both caches are emptied whole, which a rare admin purge can afford."""
        self.invalidate_current_state(room_nid)
        self._snapshots.clear()
        self._event_snapshot.clear()

    def invalidate_current_state(self, room_nid: int) -> None:
        """Forget the cached current state of a room (after it changed, here or elsewhere)."""
        self._current.pop(room_nid)
        self._current_generation[room_nid] = self._current_generation.get(room_nid, 0) + 1

    async def get_current_state_ids(
        self, room_id: str, types: Iterable[str] | None = None
    ) -> dict[StateKey, str]:
        """The room's current state as (type, state_key) → event ID; empty for an unknown room."""
        room_nid = await self._rooms.get_room_nid(room_id)
        if room_nid is None:
            return {}
        current = self._current.get(room_nid)
        if current is None:
            generation = self._current_generation.get(room_nid, 0)
            rows = await self._db.fetchall(
                "SELECT k.event_type, k.state_key, i.event_id FROM current_state c"
                " JOIN state_keys k ON k.state_key_nid = c.state_key_nid"
                " JOIN event_ids i ON i.event_nid = c.event_nid"
                " WHERE c.room_nid = ?",
                room_nid,
            )
            current = {}
            for event_type, state_key, event_id in rows:
                current.setdefault(event_type, {})[state_key] = event_id
            if self._current_generation.get(room_nid, 0) == generation:
                self._current.set(room_nid, current)
        return _flatten(current, types)

    async def get_many_current_state_ids(self, room_ids: Iterable[str]) -> dict[str, dict[StateKey, str]]:
        """`get_current_state_ids` for many rooms, the uncached ones read in one query."""
        nids = await self._rooms.get_room_nids(room_ids)
        found: dict[str, dict[StateKey, str]] = {room_id: {} for room_id in room_ids}
        missing: dict[int, str] = {}
        for room_id, room_nid in nids.items():
            current = self._current.get(room_nid)
            if current is None:
                missing[room_nid] = room_id
            else:
                found[room_id] = _flatten(current, None)
        if not missing:
            return found
        generations = {nid: self._current_generation.get(nid, 0) for nid in missing}
        rows = await self._db.fetchall(
            "SELECT c.room_nid, k.event_type, k.state_key, i.event_id FROM current_state c"
            " JOIN state_keys k ON k.state_key_nid = c.state_key_nid"
            " JOIN event_ids i ON i.event_nid = c.event_nid"
            " WHERE c.room_nid = ANY(?)",
            list(missing),
        )
        loaded: dict[int, dict[str, dict[str, str]]] = {nid: {} for nid in missing}
        for room_nid, event_type, state_key, event_id in rows:
            loaded[room_nid].setdefault(event_type, {})[state_key] = event_id
        for room_nid, current in loaded.items():
            if self._current_generation.get(room_nid, 0) == generations[room_nid]:
                self._current.set(room_nid, current)
            found[missing[room_nid]] = _flatten(current, None)
        return found


def _flatten(current: Mapping[str, Mapping[str, str]], types: Iterable[str] | None) -> dict[StateKey, str]:
    """A room's current state, grouped by event type, as (type, state_key) → event ID."""
    wanted = current if types is None else set(types)
    return {
        (event_type, state_key): event_id
        for event_type in wanted
        for state_key, event_id in current.get(event_type, {}).items()
    }


def _count_entries(current: Mapping[str, Mapping[str, str]]) -> int:
    return sum(len(by_key) for by_key in current.values())
