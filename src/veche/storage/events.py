"""Persisting events with their state in one transaction, and reading them back in batches."""

from __future__ import annotations

import re
from bisect import bisect_right, insort
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Literal

import orjson

from veche.protocol.events import Event, StateKey
from veche.protocol.relations import relation_of
from veche.storage.cache import LruCache
from veche.storage.database import Database, Engine, Row, Transaction
from veche.storage.event_cache import EventCache
from veche.storage.id_probe import select_by_ids
from veche.storage.interning import AfterCommit, StateKeyInterner, StringInterner
from veche.storage.rooms import RoomStore
from veche.storage.state import NidState, SnapshotMemo, StateStore
from veche.storage.stream import StreamIdGenerator

Statements = list[tuple[str, tuple[object, ...]]]

AlongsideWrites = Callable[[int, AfterCommit], Statements]
"""Further writes that commit with an event, in its own transaction: given the event's
stream position, the statements to run (push actions, the client transaction ID …); what
they add to the commit hook runs after the commit, before the position becomes visible."""

StateBefore = int | Mapping[StateKey, str]
"""The state before an event: a snapshot nid (see `StateStore.get_snapshot_after`), or the
full state as (type, state_key) → event ID (e.g. the result of state resolution)."""

_TOKEN = re.compile(r"^t(-?\d+)-(-?\d+)$")


@dataclass(frozen=True, slots=True, order=True)
class TopologicalToken:
    """A place in a room's topological order: just after the event at (depth, stream).

    Paginating backwards from it includes that event; forwards excludes it.
    """

    depth: int
    stream: int

    @classmethod
    def before(cls, depth: int, stream: int) -> TopologicalToken:
        """The place just before the event at (depth, stream)."""
        return cls(depth, stream - 1)

    def serialize(self) -> str:
        return f"t{self.depth}-{self.stream}"

    @classmethod
    def parse(cls, text: str) -> TopologicalToken:
        match = _TOKEN.match(text)
        if not match:
            raise ValueError(f"not a topological token: {text!r}")
        depth, stream = int(match.group(1)), int(match.group(2))
        # Both are bound as 64-bit SQL parameters.
        if not all(_BEFORE_EVERYTHING <= v <= _AFTER_EVERYTHING for v in (depth, stream)):
            raise ValueError(f"topological token out of range: {text!r}")
        return cls(depth, stream)


@dataclass(frozen=True, slots=True)
class PersistedEvent:
    event_id: str
    stream_ordering: int | None  # None for outliers
    snapshot_nid: int | None  # the state after the event; None for outliers


@dataclass(frozen=True, slots=True)
class EventMeta:
    room_id: str
    stream_ordering: int | None
    depth: int
    outlier: bool
    soft_failed: bool
    rejected_reason: str | None


@dataclass(frozen=True, slots=True)
class RecentEvents:
    events: list[Event]  # oldest first
    limited: bool  # older events in the range were left out
    prev_batch: TopologicalToken | None  # where /messages continues backwards; None if empty


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[Event]  # in the direction of pagination
    next_token: TopologicalToken | None  # None when the room has no more events that way


# Events the client sees in timelines: not rejected, not soft failed (spec:
# server-server-api.md "Soft failure"), and not outliers (which have no stream position).
_VISIBLE = "e.rejected_reason IS NULL AND NOT e.soft_failed AND e.stream_ordering IS NOT NULL"

# Newest visible events remembered per room, enough for a default /sync timeline and more.
TAIL_SIZE = 50
_BEFORE_EVERYTHING = -(2**63)
_AFTER_EVERYTHING = 2**63 - 1
# Rooms read by one statement of per-room subqueries (SQLite allows 500 compound terms).
_ROOMS_PER_STATEMENT = 100

# Reads by event ID, one statement per engine (see `veche.storage.id_probe`): without
# planner statistics PostgreSQL scanned the whole of event_ids and events rather than
# probe the index per ID. `get_events`: 11.6 ms instead of 1.5 for 100 IDs in a
# 13,000-event database.
_ENGINES: tuple[Engine, ...] = ("postgres", "sqlite")
_EVENTS_BY_ID = {
    engine: select_by_ids(
        engine,
        "i.event_id, e.room_nid, e.rejected_reason, j.json",
        "event_ids",
        "event_id",
        " JOIN events e ON e.event_nid = i.event_nid JOIN event_json j ON j.event_nid = i.event_nid",
    )
    for engine in _ENGINES
}
_PERSISTED_BY_ID = {
    engine: select_by_ids(engine, "i.event_id", "event_ids", "event_id", " JOIN events e ON e.event_nid = i.event_nid")
    for engine in _ENGINES
}
_META_BY_ID = {
    engine: select_by_ids(
        engine,
        "i.event_id, r.room_id, e.stream_ordering, e.depth, e.outlier, e.soft_failed, e.rejected_reason",
        "event_ids",
        "event_id",
        " JOIN events e ON e.event_nid = i.event_nid JOIN rooms r ON r.room_nid = e.room_nid",
    )
    for engine in _ENGINES
}


@dataclass(slots=True)
class _Chain:
    """What the events of one `persist_event_chain` transaction share."""

    # Event IDs interned in this transaction (not cached before the commit), and which of
    # them it created (so nothing refers to them yet).
    nids: dict[str, int]
    created: set[str]
    # Writes held back to go to the writer together; see `EventStore._persist`.
    pending: Statements = field(default_factory=list)
    # The held-back events' forward extremity changes, applied as their net effect: the
    # events they cite stop being extremities, those of them nothing later cites become ones.
    room_nid: int | None = None
    superseded: set[int] = field(default_factory=set)
    held: list[int] = field(default_factory=list)
    # The room's current snapshot, once an event of the chain has made it so.
    current_snapshot: int | None = None
    # The chain's snapshots, read back by its next events before they are committed.
    snapshots: SnapshotMemo = field(default_factory=dict)

    def hold(self, writes: Statements, room_nid: int, prev_nids: list[int], event_nid: int) -> None:
        self.pending += writes
        self.room_nid = room_nid
        self.superseded.update(prev_nids)
        self.held.append(event_nid)

    async def flush(self, txn: Transaction, writes: Sequence[tuple[str, tuple[object, ...]]] = ()) -> None:
        # Grouped, so that PostgreSQL gets each statement's rows as one pipelined batch.
        statements = _grouped(self.pending)
        if self.held:
            # The held events themselves are new: none of them is in the table yet.
            stale = self.superseded.difference(self.held)
            if stale:
                statements.append((_DELETE_EXTREMITIES, (self.room_nid, sorted(stale))))
            statements += [(_INSERT_EXTREMITY, (self.room_nid, n)) for n in self.held if n not in self.superseded]
        await txn.execute_all([*statements, *writes])
        self.pending.clear()
        self.superseded.clear()
        self.held.clear()


def _grouped(statements: Statements) -> Statements:
    """`statements` with the rows of each statement text together, the texts in the order
    of their first appearance (each text's rows keep their order)."""
    groups: dict[str, list[tuple[object, ...]]] = {}
    for sql, args in statements:
        groups.setdefault(sql, []).append(args)
    return [(sql, args) for sql, rows in groups.items() for args in rows]


_DELETE_EXTREMITIES = "DELETE FROM forward_extremities WHERE room_nid = ? AND event_nid = ANY(?)"
_INSERT_EXTREMITY = "INSERT INTO forward_extremities (room_nid, event_nid) VALUES (?, ?) ON CONFLICT DO NOTHING"


@dataclass(slots=True)
class _RoomTail:
    """The newest visible events of a room, as (stream, depth, event ID), oldest first.

    Every visible event with a stream position above `complete_after` is in `entries`,
    so a question about positions above it needs no database.
    """

    complete_after: int
    entries: list[tuple[int, int, str]]

    def add(self, stream: int, depth: int, event_id: str) -> None:
        if stream <= self.complete_after:
            return
        insort(self.entries, (stream, depth, event_id))
        while len(self.entries) > TAIL_SIZE:
            self.complete_after = self.entries.pop(0)[0]

    def between(self, from_stream: int, to_stream: int) -> list[tuple[int, int, str]]:
        entries = self.entries
        if not entries or entries[-1][0] <= from_stream:
            return []
        start = bisect_right(entries, from_stream, key=_stream_of)
        return entries[start : bisect_right(entries, to_stream, lo=start, key=_stream_of)]


def _stream_of(entry: tuple[int, int, str]) -> int:
    return entry[0]


class EventStore:
    def __init__(
        self,
        db: Database,
        stream: StreamIdGenerator,
        event_ids: StringInterner,
        users: StringInterner,
        state_keys: StateKeyInterner,
        rooms: RoomStore,
        state: StateStore,
        *,
        backfill_stream: StreamIdGenerator | None = None,
        event_cache_size: int = 5_000,
        parsed_event_cache_size: int = 1_000,
        tail_cache_rooms: int = 5_000,
    ) -> None:
        self._db = db
        self._stream = stream
        # Backfilled history counts down from 0 (see `persist_event`): its positions are
        # this generator's, negated.
        self._backfill_stream = backfill_stream if backfill_stream is not None else StreamIdGenerator(0)
        self._event_ids = event_ids
        self._users = users
        self._state_keys = state_keys
        self._rooms = rooms
        self._state = state
        # Event objects are shared between callers, who must not modify them.
        self._events = EventCache(event_cache_size, parsed_event_cache_size)
        # room_nid → its newest visible events, fed after each commit that adds one (every
        # writer of events persists through this store); a per-room count of such commits
        # stops a read that raced one from caching what it read.
        self._tails: LruCache[int, _RoomTail] = LruCache(tail_cache_rooms)
        self._tail_changes: dict[int, int] = {}
        # room_nid → its forward extremities (the next local event's prev events), kept
        # the same way.
        self._extremities: LruCache[int, tuple[str, ...]] = LruCache(tail_cache_rooms)
        self._extremity_changes: dict[int, int] = {}
        self._target_listeners: list[Callable[[list[str]], None]] = []
        self._new_local_listeners: list[Callable[[list[str]], None]] = []

    @property
    def current_stream_token(self) -> int:
        """Every event at or below this position has committed."""
        return self._stream.current_token

    @property
    def oldest_backfilled_token(self) -> int:
        """Every backfilled event at or above this (negative, or 0) position has committed."""
        return -self._backfill_stream.current_token

    # Writing

    async def persist_event(
        self,
        event: Event,
        *,
        state_before: StateBefore | None = None,
        outlier: bool = False,
        soft_failed: bool = False,
        advance_current_state: bool = False,
        current_state: Mapping[StateKey, str] | None = None,
        backfilled: bool = False,
        alongside: AlongsideWrites | None = None,
    ) -> PersistedEvent:
        """Store an event and everything that follows from it in one transaction.

        A non-outlier needs `state_before` (`{}` for a create event); the state after it is
        that state plus the event itself if it is an accepted state event. With
        `advance_current_state` the room's current state and memberships become that state,
        or `current_state` when given (the resolution of the forward extremities' states,
        for a received event that does not extend them all).
        Outliers get no stream position and no state. Persisting a known event again is a
        no-op, except that an outlier persisted as a non-outlier joins the timeline.

        A `backfilled` event is history older than what the room's timeline held: it gets
        a negative stream position (counting down, below every live event, so no stream
        reader ever sees it as new), never becomes a forward extremity and never changes
        the current state; /messages finds it by its topological place.
        Every timeline event's prev events that the timeline lacks become backward
        extremities of the room, and an event stops being one once it is held.
        `alongside` adds writes of a timeline event's own to its transaction.
        """
        if not outlier and state_before is None:
            raise ValueError("a non-outlier event needs the state before it")
        if backfilled and (outlier or advance_current_state):
            raise ValueError("a backfilled event is a timeline event that leaves the current state alone")
        after = AfterCommit()
        with self._position_for(outlier, backfilled) as stream_ordering:
            async with self._db.transaction() as txn:
                persisted = await self._persist(
                    txn, event, state_before, stream_ordering, soft_failed, advance_current_state, after,
                    current_state, backfilled=backfilled, track_gaps=True, alongside=alongside,
                )
            after.run()
        return persisted

    @contextmanager
    def _position_for(self, outlier: bool, backfilled: bool) -> Iterator[int | None]:
        if outlier:
            yield None
        elif backfilled:
            with self._backfill_stream.position() as position:
                yield -position
        else:
            with self._stream.position() as position:
                yield position

    async def persist_backfilled(
        self, events: Sequence[tuple[Event, StateBefore | None]]
    ) -> list[PersistedEvent]:
        """Persist a batch of backfilled events (see `persist_event`) in one transaction,
        in the order given, each with the state before it; None stands for the state after
        its first prev event, which must come earlier in the batch."""
        after = AfterCommit()
        with ExitStack() as positions:
            orderings = [-positions.enter_context(self._backfill_stream.position()) for _ in events]
            persisted: list[PersistedEvent] = []
            snapshots: dict[str, int] = {}
            async with self._db.transaction() as txn:
                for (event, state_before), stream_ordering in zip(events, orderings):
                    before = state_before if state_before is not None else snapshots[event.prev_event_ids[0]]
                    result = await self._persist(
                        txn, event, before, stream_ordering, False, False, after, backfilled=True, track_gaps=True
                    )
                    if result.snapshot_nid is not None:
                        snapshots[event.event_id] = result.snapshot_nid
                    persisted.append(result)
            after.run()
        return persisted

    async def persist_event_chain(
        self,
        events: Sequence[Event],
        *,
        state_before: StateBefore,
        alongside: Sequence[AlongsideWrites | None] | None = None,
    ) -> list[PersistedEvent]:
        """Persist new local events, each built on the one before it, in one transaction,
        advancing the room's current state through them.

        `state_before` is the state before the first event; the state before each later
        one is the state after its predecessor. Each event gets its own stream position,
        in order. `alongside[i]`, if given, adds the i-th event's own writes (one commit
        for the event and everything that must survive with it); the writes of the chain's
        messages may be sent grouped by statement text, so each such write may rely only on
        the rows of earlier events and on the earlier rows of its own statement.
        """
        extras = list(alongside) if alongside is not None else [None] * len(events)
        if len(extras) != len(events):
            raise ValueError("one alongside entry per event")
        after = AfterCommit()
        # First, so that the target listeners, should one of these events name another,
        # run after it.
        after.add(lambda: self._note_new_local([e.event_id for e in events]))
        with ExitStack() as positions:
            orderings = [positions.enter_context(self._stream.position()) for _ in events]
            persisted: list[PersistedEvent] = []
            async with self._db.transaction() as txn:
                before: StateBefore | None = state_before
                # Every event's ID in one statement: each is the next one's prev event.
                nids, created = await self._event_ids.intern_new(txn, [e.event_id for e in events], after)
                chain = _Chain(nids, created)
                for event, stream_ordering, extra in zip(events, orderings, extras):
                    result = await self._persist(
                        txn, event, before, stream_ordering, False, True, after, alongside=extra, chain=chain
                    )
                    persisted.append(result)
                    before = result.snapshot_nid
                    # An event stored before (same ID) returns early, advancing nothing.
                    fresh = result.stream_ordering == stream_ordering
                    chain.current_snapshot = result.snapshot_nid if fresh else None
                await chain.flush(txn)
            after.run()
        return persisted

    async def _persist(
        self,
        txn: Transaction,
        event: Event,
        state_before: StateBefore | None,
        stream_ordering: int | None,
        soft_failed: bool,
        advance_current_state: bool,
        after: AfterCommit,
        current_state: Mapping[StateKey, str] | None = None,
        *,
        backfilled: bool = False,
        track_gaps: bool = False,
        alongside: AlongsideWrites | None = None,
        chain: _Chain | None = None,
    ) -> PersistedEvent:
        """`track_gaps`: keep the backward extremities up to date, which events built
        here on the forward extremities (`persist_event_chain`) can skip.

        In a `chain`, an event built on the state the chain's previous event made current
        holds its writes back with the chain's (its current state and membership changes
        too), to be sent with the next event that needs the writer or at the chain's end:
        its writes depend on nothing but rows written before them, and nothing in between
        reads them. The chain's snapshots and room nid are remembered, not read back."""
        if chain is not None and chain.room_nid is not None:
            room_nid = chain.room_nid
        else:
            room_nid = await self._rooms.intern_room(txn, event.room_id, event.room_version.identifier, after)
            if chain is not None:
                chain.room_nid = room_nid
        memo = chain.snapshots if chain is not None else None
        prev_ids = event.prev_event_ids
        auth_ids = event.auth_event_ids
        if chain is not None and event.event_id in chain.nids:
            event_nid, new_id = chain.nids[event.event_id], event.event_id in chain.created
        else:
            event_nid, new_id = await self._event_ids.intern_one(txn, event.event_id, after)
        if chain is not None and not new_id:
            # A known event's checks below read the tables.
            await chain.flush(txn)
        known = chain.nids if chain is not None else {}
        cited = {*prev_ids, *auth_ids}
        nids = {i: known[i] for i in cited if i in known}
        nids.update(await self._event_ids.intern(txn, cited.difference(nids), after))
        nids[event.event_id] = event_nid
        state_key_nid = None
        if event.is_state:
            state_key_nid = (await self._state_keys.intern(txn, [event.state_tuple], after))[event.state_tuple]

        # Writes that need no answer are gathered and sent together.
        writes: list[tuple[str, tuple[object, ...]]] = []
        # A just-created nid cannot belong to a stored event nor be anyone's prev event.
        existing = None if new_id else await txn.fetchone(
            "SELECT stream_ordering, outlier FROM events WHERE event_nid = ?", event_nid
        )
        if existing is not None:
            existing_stream, was_outlier = existing
            if not was_outlier or stream_ordering is None:
                snapshot = await txn.fetchval("SELECT snapshot_nid FROM event_state WHERE event_nid = ?", event_nid)
                return PersistedEvent(event.event_id, existing_stream, snapshot)
            writes.append((
                "UPDATE events SET stream_ordering = ?, outlier = FALSE, soft_failed = ? WHERE event_nid = ?",
                (stream_ordering, soft_failed, event_nid),
            ))
        else:
            sender_nid = (await self._users.intern(txn, [event.sender], after))[event.sender]
            writes += self._event_rows(
                event, event_nid, room_nid, sender_nid, state_key_nid, stream_ordering, soft_failed, nids
            )
        if stream_ordering is None:
            await txn.execute_all(writes)
            return PersistedEvent(event.event_id, None, None)

        accepted = event.rejected_reason is None
        if accepted and not soft_failed:
            after.add(lambda: self._note_visible(room_nid, stream_ordering, event.depth, event.event_id))
            targets = _targets_of(event)
            if targets:
                after.add(lambda: self._note_targets(targets))
        prev_nids = [nids[p] for p in prev_ids]
        extremity_writes: Statements = []
        if accepted and not soft_failed and not backfilled:
            extremity_writes = await self._forward_extremity_writes(txn, room_nid, event_nid, new_id, prev_nids)
            after.add(lambda: self._note_extremity(room_nid, event.event_id, new_id, prev_ids))
        if track_gaps:
            writes += await self._backward_extremity_writes(
                txn, room_nid, event_nid, new_id, [nids[p] for p in dict.fromkeys(prev_ids)]
            )

        assert state_before is not None
        before_nid, before_state = await self._resolve_state_before(txn, room_nid, event, state_before, after, memo)
        changes: dict[int, int] = {}
        if accepted and state_key_nid is not None:
            changes[state_key_nid] = event_nid
        if changes or before_nid is None:
            state_after: NidState = {**before_state, **changes}
            snapshot_nid = await self._state.store_snapshot(
                txn, room_nid, state_after, before_nid, after, memo=memo, fresh=new_id and bool(changes)
            )
        else:
            state_after, snapshot_nid = before_state, before_nid
        writes.append(("INSERT INTO event_state (event_nid, snapshot_nid) VALUES (?, ?)", (event_nid, snapshot_nid)))
        if alongside is not None:
            writes += alongside(stream_ordering, after)
        after.add(lambda: self._state.remember_snapshot_after(event.event_id, snapshot_nid))
        # The next event built on this one reads it back at once.
        after.add(lambda: self._events.add(event))
        current_snapshot = chain.current_snapshot if chain is not None else None
        # Built on the state the chain made current, an event's effect on the current state
        # is known without reading, so its writes wait with the chain's. So do those of the
        # chain's first event (or the first after a known one): nothing is held yet, so
        # what it reads to advance the current state is all in the tables.
        held = writes if (
            chain is not None
            and new_id
            and accepted
            and advance_current_state
            and current_state is None
            and (current_snapshot is None or current_snapshot == before_nid)
        ) else None
        if held is None:
            if chain is not None:
                await chain.flush(txn, writes + extremity_writes)
            else:
                await txn.execute_all(writes + extremity_writes)

        if advance_current_state and current_state is not None:
            current = await self._state.intern_state_ids(txn, current_state, after)
            current_nid = await self._state.store_snapshot(txn, room_nid, current, snapshot_nid, after)
            changed = await self._state.advance_current_state(txn, room_nid, current_nid, current, after)
            await self._update_memberships(txn, room_nid, changed, event, event_nid, stream_ordering, after)
        elif advance_current_state:
            changed = await self._state.advance_current_state(
                txn,
                room_nid,
                snapshot_nid,
                state_after,
                after,
                known_base=(before_nid, changes),
                known_keys={state_key_nid: event.state_tuple} if state_key_nid is not None else None,
                known_event_ids={event_nid: event.event_id},
                known_current=current_snapshot,
                held=held,
            )
            await self._update_memberships(
                txn, room_nid, changed, event, event_nid, stream_ordering, after, held=held
            )
        if held is not None:
            assert chain is not None
            chain.hold(held, room_nid, prev_nids, event_nid)
        return PersistedEvent(event.event_id, stream_ordering, snapshot_nid)

    @staticmethod
    def _event_rows(
        event: Event,
        event_nid: int,
        room_nid: int,
        sender_nid: int,
        state_key_nid: int | None,
        stream_ordering: int | None,
        soft_failed: bool,
        nids: Mapping[str, int],
    ) -> list[tuple[str, tuple[object, ...]]]:
        writes: list[tuple[str, tuple[object, ...]]] = [
            (
                "INSERT INTO events (event_nid, room_nid, stream_ordering, depth, origin_server_ts,"
                " sender_nid, event_type, state_key_nid, rejected_reason, soft_failed, outlier)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event_nid,
                    room_nid,
                    stream_ordering,
                    event.depth,
                    event.origin_server_ts,
                    sender_nid,
                    event.type,
                    state_key_nid,
                    event.rejected_reason,
                    soft_failed,
                    stream_ordering is None,
                ),
            ),
            ("INSERT INTO event_json (event_nid, json) VALUES (?, ?)", (event_nid, orjson.dumps(event.pdu))),
        ]
        writes += [
            ("INSERT INTO event_edges (event_nid, prev_event_nid) VALUES (?, ?) ON CONFLICT DO NOTHING", (event_nid, n))
            for n in {nids[p] for p in event.prev_event_ids}
        ]
        writes += [
            ("INSERT INTO event_auth (event_nid, auth_event_nid) VALUES (?, ?) ON CONFLICT DO NOTHING", (event_nid, n))
            for n in {nids[a] for a in event.auth_event_ids}
        ]
        return writes

    async def _forward_extremity_writes(
        self, txn: Transaction, room_nid: int, event_nid: int, new_id: bool, prev_nids: list[int]
    ) -> list[tuple[str, tuple[object, ...]]]:
        writes: list[tuple[str, tuple[object, ...]]] = []
        if prev_nids:
            writes.append((_DELETE_EXTREMITIES, (room_nid, prev_nids)))
        # An event that arrives after one of its children is not an extremity.
        if not new_id and await txn.fetchval(
            "SELECT 1 FROM event_edges x JOIN events e ON e.event_nid = x.event_nid"
            " WHERE x.prev_event_nid = ? AND NOT e.outlier LIMIT 1",
            event_nid,
        ):
            return writes
        writes.append((_INSERT_EXTREMITY, (room_nid, event_nid)))
        return writes

    @staticmethod
    async def _backward_extremity_writes(
        txn: Transaction, room_nid: int, event_nid: int, new_id: bool, prev_nids: list[int]
    ) -> list[tuple[str, tuple[object, ...]]]:
        writes: list[tuple[str, tuple[object, ...]]] = []
        # A just-created nid was nobody's prev event, so cannot be a backward extremity.
        if not new_id:
            writes.append(
                ("DELETE FROM backward_extremities WHERE room_nid = ? AND event_nid = ?", (room_nid, event_nid))
            )
        if not prev_nids:
            return writes
        held = {
            row[0]
            for row in await txn.fetchall(
                "SELECT event_nid FROM events WHERE event_nid = ANY(?) AND NOT outlier", prev_nids
            )
        }
        writes += [
            (
                "INSERT INTO backward_extremities (room_nid, event_nid) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (room_nid, prev_nid),
            )
            for prev_nid in prev_nids
            if prev_nid not in held
        ]
        return writes

    async def _resolve_state_before(
        self,
        txn: Transaction,
        room_nid: int,
        event: Event,
        state_before: StateBefore,
        after: AfterCommit,
        memo: SnapshotMemo | None = None,
    ) -> tuple[int | None, NidState]:
        if isinstance(state_before, int):
            return state_before, await self._state.load_snapshot(state_before, txn, after, memo)
        if not state_before:
            # Before a create event; no need to store the empty state.
            return None, {}
        state = await self._state.intern_state_ids(txn, state_before, after)
        # Store it as a delta on the state after a prev event: usually nearly the same state.
        parent = None
        if event.prev_event_ids:
            parent = await self._state.get_snapshot_after(event.prev_event_ids[0])
        return await self._state.store_snapshot(txn, room_nid, state, parent, after), state

    async def _update_memberships(
        self,
        txn: Transaction,
        room_nid: int,
        changed: Mapping[StateKey, int | None],
        event: Event,
        event_nid: int,
        stream_ordering: int,
        after: AfterCommit,
        *,
        held: Statements | None = None,
    ) -> None:
        """`held`: the writes go there, for the caller to send, instead of to the database."""
        member_changes = {key[1]: nid for key, nid in changed.items() if key[0] == "m.room.member"}
        if not member_changes:
            return
        user_nids = await self._users.intern(txn, list(member_changes), after)
        other_nids = [nid for nid in member_changes.values() if nid not in (None, event_nid)]
        memberships: dict[int, object] = {event_nid: event.membership}
        if other_nids:
            rows = await txn.fetchall("SELECT event_nid, json FROM event_json WHERE event_nid = ANY(?)", other_nids)
            for nid, raw in rows:
                content = orjson.loads(bytes(raw)).get("content") or {}
                memberships[nid] = content.get("membership")
        writes: list[tuple[str, tuple[object, ...]]] = []
        removals = []
        for user_id, new_event in member_changes.items():
            membership = memberships.get(new_event) if new_event is not None else None
            if isinstance(membership, str):
                writes.append((
                    "INSERT INTO room_memberships (room_nid, user_nid, membership, event_nid, stream_ordering)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (room_nid, user_nid) DO UPDATE SET"
                    " membership = excluded.membership, event_nid = excluded.event_nid,"
                    " stream_ordering = excluded.stream_ordering",
                    (room_nid, user_nids[user_id], membership, new_event, stream_ordering),
                ))
            else:
                removals.append(user_nids[user_id])
        if removals:
            writes.append(
                ("DELETE FROM room_memberships WHERE room_nid = ? AND user_nid = ANY(?)", (room_nid, removals))
            )
        if held is not None:
            held += writes
        else:
            await txn.execute_all(writes)
        after.add(lambda: self._rooms.memberships_changed(event.room_id, member_changes, stream_ordering))

    # Reading

    async def get_events(self, event_ids: Iterable[str]) -> dict[str, Event]:
        """The events we hold among `event_ids` (rejected ones too: see `rejected_reason`)."""
        found, missing = self._events.get_many(set(event_ids))
        if not missing:
            return found
        rows = await self._db.fetchall(_EVENTS_BY_ID[self._db.engine], missing)
        versions = await self._rooms.get_versions({row[1] for row in rows})
        for event_id, room_nid, rejected_reason, raw in rows:
            raw = bytes(raw)
            event = Event(orjson.loads(raw), versions[room_nid], event_id, rejected_reason)
            self._events.add(event, raw)
            found[event_id] = event
        return found

    async def get_event(self, event_id: str) -> Event | None:
        return (await self.get_events([event_id])).get(event_id)

    async def get_events_in_order(self, event_ids: list[str]) -> list[Event]:
        """The events we hold among `event_ids`, in the order given."""
        events = await self.get_events(event_ids)
        return [events[e] for e in event_ids if e in events]

    async def have_events(self, event_ids: Iterable[str]) -> set[str]:
        """Which of `event_ids` are persisted (outliers included)."""
        wanted = set(event_ids)
        cached = {e for e in wanted if e in self._events}
        missing = list(wanted - cached)
        if not missing:
            return cached
        rows = await self._db.fetchall(_PERSISTED_BY_ID[self._db.engine], missing)
        return cached | {row[0] for row in rows}

    async def get_event_meta(self, event_ids: Iterable[str]) -> dict[str, EventMeta]:
        rows = await self._db.fetchall(_META_BY_ID[self._db.engine], list(set(event_ids)))
        return {
            row[0]: EventMeta(row[1], row[2], row[3], bool(row[4]), bool(row[5]), row[6]) for row in rows
        }

    async def get_forward_extremities(self, room_id: str) -> list[str]:
        room_nid = await self._rooms.get_room_nid(room_id)
        if room_nid is None:
            return []
        cached = self._extremities.get(room_nid)
        if cached is not None:
            return list(cached)
        changes = self._extremity_changes.get(room_nid, 0)
        rows = await self._db.fetchall(
            "SELECT i.event_id FROM forward_extremities f JOIN event_ids i ON i.event_nid = f.event_nid"
            " WHERE f.room_nid = ? ORDER BY f.event_nid",
            room_nid,
        )
        if self._extremity_changes.get(room_nid, 0) == changes:
            self._extremities.set(room_nid, tuple(row[0] for row in rows))
        return [row[0] for row in rows]

    def _note_extremity(self, room_nid: int, event_id: str, new_id: bool, prev_ids: Sequence[str]) -> None:
        """After the commit of a timeline event that extends the room's graph."""
        self._extremity_changes[room_nid] = self._extremity_changes.get(room_nid, 0) + 1
        cached = self._extremities.get(room_nid)
        if cached is None:
            return
        if not new_id:
            # It may have children already (then it is no extremity): ask the database.
            self._extremities.pop(room_nid)
            return
        # A new event has the highest nid so far: it goes last, as the query orders them.
        prevs = set(prev_ids)
        self._extremities.set(room_nid, (*(e for e in cached if e not in prevs), event_id))

    async def get_backward_extremities(self, room_id: str, max_depth: int) -> list[tuple[str, int]]:
        """The room's backward extremities cited by timeline events at most `max_depth`
        deep, as (event ID, depth of the deepest timeline event citing it), deepest first:
        the holes in history at or before that depth."""
        room_nid = await self._rooms.get_room_nid(room_id)
        if room_nid is None:
            return []
        rows = await self._db.fetchall(
            "SELECT i.event_id, MAX(e.depth) AS child_depth FROM backward_extremities b"
            " JOIN event_ids i ON i.event_nid = b.event_nid"
            " JOIN event_edges x ON x.prev_event_nid = b.event_nid"
            " JOIN events e ON e.event_nid = x.event_nid"
            " WHERE b.room_nid = ? AND e.room_nid = ? AND NOT e.outlier AND e.depth <= ?"
            " GROUP BY i.event_id ORDER BY child_depth DESC, i.event_id",
            room_nid,
            room_nid,
            max_depth,
        )
        return [(row[0], row[1]) for row in rows]

    async def get_auth_chain_ids(self, event_ids: Iterable[str]) -> set[str]:
        """Every event reachable through auth_events from `event_ids` (not themselves,
        unless one is in another's chain); references to events we lack are included."""
        rows = await self._db.fetchall(
            "WITH RECURSIVE chain (event_nid) AS ("
            " SELECT a.auth_event_nid FROM event_auth a JOIN event_ids i ON i.event_nid = a.event_nid"
            " WHERE i.event_id = ANY(?)"
            " UNION"
            " SELECT a.auth_event_nid FROM event_auth a JOIN chain c ON a.event_nid = c.event_nid"
            ") SELECT i.event_id FROM chain c JOIN event_ids i ON i.event_nid = c.event_nid",
            list(set(event_ids)),
        )
        return {row[0] for row in rows}

    async def get_auth_chain(self, event_ids: Iterable[str]) -> list[Event]:
        return list((await self.get_events(await self.get_auth_chain_ids(event_ids))).values())

    async def get_current_state(self, room_id: str, types: Iterable[str] | None = None) -> dict[StateKey, Event]:
        state_ids = await self._state.get_current_state_ids(room_id, types)
        events = await self.get_events(state_ids.values())
        return {key: events[event_id] for key, event_id in state_ids.items() if event_id in events}

    async def get_many_current_states(
        self, room_ids: list[str], types: Iterable[str]
    ) -> dict[str, dict[StateKey, Event]]:
        """`get_current_state` of `types` for many rooms: the uncached rooms' state read in
        one query, and all the events in one look-up."""
        wanted = set(types)
        picked = {
            room_id: {key: event_id for key, event_id in state.items() if key[0] in wanted}
            for room_id, state in (await self._state.get_many_current_state_ids(room_ids)).items()
        }
        events = await self.get_events(event_id for state in picked.values() for event_id in state.values())
        return {
            room_id: {key: events[event_id] for key, event_id in state.items() if event_id in events}
            for room_id, state in picked.items()
        }

    async def get_current_state_event(self, room_id: str, event_type: str, state_key: str = "") -> Event | None:
        state_ids = await self._state.get_current_state_ids(room_id, [event_type])
        event_id = state_ids.get((event_type, state_key))
        return await self.get_event(event_id) if event_id is not None else None

    def add_target_listener(self, listener: Callable[[list[str]], None]) -> None:
        """Call `listener` after each commit of a timeline event that redacts or relates
        to others, with the IDs of those others (caches of "nothing redacts or relates to
        this event" drop them)."""
        self._target_listeners.append(listener)

    def add_new_local_listener(self, listener: Callable[[list[str]], None]) -> None:
        """Call `listener` after each commit of new local events (`persist_event_chain`)
        with their IDs. Nothing can redact or relate to such an event yet: its ID was
        unknown until it was built here, and it leaves the server only after this call."""
        self._new_local_listeners.append(listener)

    @property
    def every_commit_is_visible(self) -> bool:
        """Every committed event is at or below `current_stream_token` (none waits above it
        for an earlier position), so stream readers up to it have seen all of them."""
        return self._stream.everything_finished_is_visible

    def _note_new_local(self, event_ids: list[str]) -> None:
        for listener in self._new_local_listeners:
            listener(event_ids)

    def _note_targets(self, targets: list[str]) -> None:
        for listener in self._target_listeners:
            listener(targets)

    def forget_room(self, room_nid: int, event_ids: Iterable[str]) -> None:
        """Drop what is cached of a purged room: its events, timeline tail and forward
        extremities (a read in flight sees the change counts move and keeps nothing)."""
        self._events.forget(event_ids)
        for cache, changes in ((self._tails, self._tail_changes), (self._extremities, self._extremity_changes)):
            changes[room_nid] = changes.get(room_nid, 0) + 1
            cache.pop(room_nid)

    def _note_visible(self, room_nid: int, stream_ordering: int, depth: int, event_id: str) -> None:
        self._tail_changes[room_nid] = self._tail_changes.get(room_nid, 0) + 1
        tail = self._tails.get(room_nid)
        if tail is not None:
            tail.add(stream_ordering, depth, event_id)

    async def _tail(self, room_nid: int) -> _RoomTail:
        tail = self._tails.get(room_nid)
        if tail is not None:
            return tail
        changes = self._tail_changes.get(room_nid, 0)
        rows = await self._db.fetchall(
            "SELECT e.stream_ordering, e.depth, i.event_id FROM events e"
            " JOIN event_ids i ON i.event_nid = e.event_nid"
            f" WHERE e.room_nid = ? AND {_VISIBLE} ORDER BY e.stream_ordering DESC LIMIT ?",
            room_nid,
            TAIL_SIZE,
        )
        entries = sorted(rows)
        complete_after = entries[0][0] - 1 if len(entries) == TAIL_SIZE else _BEFORE_EVERYTHING
        tail = _RoomTail(complete_after, entries)
        if self._tail_changes.get(room_nid, 0) == changes:
            self._tails.set(room_nid, tail)
        return tail

    async def get_recent_room_events(
        self, room_id: str, from_stream: int, to_stream: int, limit: int
    ) -> RecentEvents:
        """Up to `limit` newest visible events with from_stream < stream <= to_stream (sync)."""
        room_nid = await self._rooms.get_room_nid(room_id)
        if room_nid is None or limit <= 0:
            return RecentEvents([], False, None)
        # The tail answers any limit above where it is complete (an incremental sync);
        # below it, a limit beyond its size needs the query.
        tail = await self._tail(room_nid)
        known = tail.between(from_stream, to_stream)
        if from_stream >= tail.complete_after or len(known) > limit:
            limited = len(known) > limit
            newest = known[-limit:]
            if not newest:
                return RecentEvents([], False, None)
            events = await self.get_events_in_order([event_id for _, _, event_id in newest])
            stream, depth, _ = newest[0]
            return RecentEvents(events, limited, TopologicalToken.before(depth, stream))
        rows = await self._db.fetchall(
            "SELECT i.event_id, e.depth, e.stream_ordering FROM events e"
            " JOIN event_ids i ON i.event_nid = e.event_nid"
            f" WHERE e.room_nid = ? AND e.stream_ordering > ? AND e.stream_ordering <= ? AND {_VISIBLE}"
            " ORDER BY e.stream_ordering DESC LIMIT ?",
            room_nid,
            from_stream,
            to_stream,
            limit + 1,
        )
        limited = len(rows) > limit
        rows = rows[:limit][::-1]
        if not rows:
            return RecentEvents([], False, None)
        events = await self.get_events_in_order([row[0] for row in rows])
        return RecentEvents(events, limited, TopologicalToken.before(rows[0][1], rows[0][2]))

    async def get_recent_events_for_rooms(
        self, room_ids: Iterable[str], from_stream: int, to_stream: int, limit: int
    ) -> dict[str, RecentEvents]:
        """`get_recent_room_events` for many rooms (initial sync): the missing tails, the
        rooms they cannot answer and the events are each read together."""
        nids = await self._rooms.get_room_nids(room_ids)
        result = dict.fromkeys(room_ids, RecentEvents([], False, None))
        if limit <= 0:
            return result
        # room ID → (newest entries, oldest first; whether older ones were left out)
        picked: dict[str, tuple[list[tuple[int, int, str]], bool]] = {}
        unanswered = dict(nids)
        # As in get_recent_room_events, the tails answer any limit above where they are
        # complete (an incremental sync, a fan-out receiver's large limit).
        tails = await self._tails_of(nids.values())
        for room_id, room_nid in nids.items():
            tail = tails[room_nid]
            known = tail.between(from_stream, to_stream)
            if from_stream >= tail.complete_after or len(known) > limit:
                picked[room_id] = (known[-limit:], len(known) > limit)
                del unanswered[room_id]
        if unanswered:
            newest = await self._newest_per_room(unanswered.values(), from_stream, to_stream, limit + 1)
            for room_id, room_nid in unanswered.items():
                rows = newest.get(room_nid, [])
                picked[room_id] = (rows[:limit][::-1], len(rows) > limit)
        events = await self.get_events(event_id for entries, _ in picked.values() for _, _, event_id in entries)
        for room_id, (entries, limited) in picked.items():
            if entries:
                stream, depth, _ = entries[0]
                in_order = [events[event_id] for _, _, event_id in entries if event_id in events]
                result[room_id] = RecentEvents(in_order, limited, TopologicalToken.before(depth, stream))
        return result

    async def _tails_of(self, room_nids: Iterable[int]) -> dict[int, _RoomTail]:
        """The tails of many rooms, the uncached ones read in one query."""
        found, missing = self._tails.get_many(set(room_nids))
        if not missing:
            return found
        changes = {room_nid: self._tail_changes.get(room_nid, 0) for room_nid in missing}
        newest = await self._newest_per_room(missing, _BEFORE_EVERYTHING, _AFTER_EVERYTHING, TAIL_SIZE)
        for room_nid in missing:
            entries = newest.get(room_nid, [])[::-1]
            complete_after = entries[0][0] - 1 if len(entries) == TAIL_SIZE else _BEFORE_EVERYTHING
            tail = _RoomTail(complete_after, entries)
            if self._tail_changes.get(room_nid, 0) == changes[room_nid]:
                self._tails.set(room_nid, tail)
            found[room_nid] = tail
        return found

    async def _newest_per_room(
        self, room_nids: Iterable[int], from_stream: int, to_stream: int, limit: int
    ) -> dict[int, list[tuple[int, int, str]]]:
        """room_nid → up to `limit` newest visible (stream, depth, event ID) with
        from_stream < stream <= to_stream, newest first.

        One index range scan per room (a window over all the rooms' events would read whole
        rooms). The event IDs come from the interner's cache, which holds the recent
        events': joining event_ids cost one probe per row, 3/4 of the statement's time
        for the 5,000 rows of an initial sync's 100 tails.
        """
        rows = await self._newest_rows(list(room_nids), from_stream, to_stream, limit)
        event_ids = await self._event_ids.resolve(self._db, (row[3] for row in rows))
        found: dict[int, list[tuple[int, int, str]]] = {}
        for room_nid, stream, depth, event_nid in rows:
            found.setdefault(room_nid, []).append((stream, depth, event_ids[event_nid]))
        for entries in found.values():
            entries.sort(reverse=True)
        return found

    async def _newest_rows(self, nids: list[int], from_stream: int, to_stream: int, limit: int) -> list[Row]:
        """(room_nid, stream, depth, event nid) rows for `_newest_per_room`."""
        if self._db.engine == "postgres":
            # A LATERAL join is one small plan whatever the number of rooms; PostgreSQL took
            # ~200 ms to plan 100 subqueries glued with UNION ALL.
            return await self._db.fetchall(
                "SELECT p.room_nid, p.stream_ordering, p.depth, p.event_nid FROM unnest(?::bigint[]) AS r(room_nid)"
                " CROSS JOIN LATERAL (SELECT e.room_nid, e.event_nid, e.stream_ordering, e.depth FROM events e"
                f"  WHERE e.room_nid = r.room_nid AND e.stream_ordering > ? AND e.stream_ordering <= ? AND {_VISIBLE}"
                "  ORDER BY e.stream_ordering DESC LIMIT ?) AS p",
                nids,
                from_stream,
                to_stream,
                limit,
            )
        # SQLite has no LATERAL; it plans glued subqueries cheaply.
        rows: list[Row] = []
        for start in range(0, len(nids), _ROOMS_PER_STATEMENT):
            chunk = nids[start : start + _ROOMS_PER_STATEMENT]
            sql = " UNION ALL ".join(
                "SELECT * FROM (SELECT e.room_nid, e.stream_ordering, e.depth, e.event_nid FROM events e"
                f" WHERE e.room_nid = ? AND e.stream_ordering > ? AND e.stream_ordering <= ? AND {_VISIBLE}"
                f" ORDER BY e.stream_ordering DESC LIMIT ?) AS room{n}"
                for n in range(len(chunk))
            )
            args = [arg for room_nid in chunk for arg in (room_nid, from_stream, to_stream, limit)]
            rows += await self._db.fetchall(sql, *args)
        return rows

    async def get_rooms_with_events(self, room_ids: Iterable[str], from_stream: int, to_stream: int) -> set[str]:
        """Which of `room_ids` have visible events with from_stream < stream <= to_stream."""
        nids = await self._rooms.get_room_nids(room_ids)
        found: set[str] = set()
        unknown: list[int] = []
        for room_id, room_nid in nids.items():
            tail = self._tails.get(room_nid)
            if tail is None:
                unknown.append(room_nid)
            elif tail.between(from_stream, to_stream):
                found.add(room_id)
            elif from_stream < tail.complete_after:
                unknown.append(room_nid)
        if not unknown:
            return found
        rows = await self._db.fetchall(
            "SELECT DISTINCT e.room_nid FROM events e"
            f" WHERE e.room_nid = ANY(?) AND e.stream_ordering > ? AND e.stream_ordering <= ? AND {_VISIBLE}",
            unknown,
            from_stream,
            to_stream,
        )
        return found | set((await self._rooms.get_room_ids(row[0] for row in rows)).values())

    async def get_latest_event_ids_at(self, room_ids: Iterable[str], stream: int) -> dict[str, str]:
        """For each room, the last visible event at or before `stream` (rooms without one
        are left out)."""
        nids = await self._rooms.get_room_nids(room_ids)
        found: dict[str, str] = {}
        unknown: list[int] = []
        for room_id, room_nid in nids.items():
            tail = self._tails.get(room_nid)
            earlier = [e for e in tail.entries if e[0] <= stream] if tail is not None else []
            if earlier:
                found[room_id] = earlier[-1][2]
            elif tail is None or tail.complete_after != _BEFORE_EVERYTHING:
                unknown.append(room_nid)
        if not unknown:
            return found
        # One backward probe of the visible-events index per room; a correlated MAX per
        # event of the rooms was planned, without statistics, to run for every one of them.
        rows = await self._db.fetchall(
            "SELECT r.room_nid, (SELECT i.event_id FROM events e JOIN event_ids i ON i.event_nid = e.event_nid"
            f"  WHERE e.room_nid = r.room_nid AND e.stream_ordering <= ? AND {_VISIBLE}"
            "  ORDER BY e.stream_ordering DESC LIMIT 1)"
            " FROM rooms r WHERE r.room_nid = ANY(?)",
            stream,
            unknown,
        )
        rows = [row for row in rows if row[1] is not None]
        ids = await self._rooms.get_room_ids(row[0] for row in rows)
        found.update((ids[room_nid], event_id) for room_nid, event_id in rows)
        return found

    async def get_latest_positions_of_types(
        self, room_ids: Iterable[str], types: Iterable[str], stream: int
    ) -> dict[str, int]:
        """For each room, the stream position of its last visible event of one of `types` at
        or before `stream` (sliding sync's `bump_stamp`); rooms without one are left out."""
        nids = await self._rooms.get_room_nids(room_ids)
        if not nids:
            return {}
        # One backward probe of the room's stream index per room, as in get_latest_event_ids_at.
        rows = await self._db.fetchall(
            "SELECT r.room_nid, (SELECT e.stream_ordering FROM events e"
            f"  WHERE e.room_nid = r.room_nid AND e.stream_ordering <= ? AND {_VISIBLE}"
            "  AND e.event_type = ANY(?) ORDER BY e.stream_ordering DESC LIMIT 1)"
            " FROM rooms r WHERE r.room_nid = ANY(?)",
            stream,
            list(types),
            list(nids.values()),
        )
        ids = {room_nid: room_id for room_id, room_nid in nids.items()}
        return {ids[room_nid]: position for room_nid, position in rows if position is not None}

    async def paginate_room_events(
        self,
        room_id: str,
        from_token: TopologicalToken,
        direction: Literal["b", "f"],
        limit: int,
        to_token: TopologicalToken | None = None,
    ) -> EventPage:
        """Visible events in topological order (depth, then stream) from `from_token` (/messages)."""
        room_nid = await self._rooms.get_room_nid(room_id)
        if room_nid is None or limit <= 0:
            return EventPage([], None)
        if direction == "b":
            bound, order, stop = "<=", "DESC", ">"
        else:
            bound, order, stop = ">", "ASC", "<="
        # The page is picked from the events alone, in the order of the index of visible
        # events, before its IDs are joined: without planner statistics PostgreSQL otherwise
        # joined and sorted every event below the token.
        where = f"e.room_nid = ? AND (e.depth, e.stream_ordering) {bound} (?, ?) AND {_VISIBLE}"
        args: list[object] = [room_nid, from_token.depth, from_token.stream]
        if to_token is not None:
            where += f" AND (e.depth, e.stream_ordering) {stop} (?, ?)"
            args += [to_token.depth, to_token.stream]
        # The page's JSON comes with it (one round trip, not two); cached events are still
        # taken from the cache.
        rows = await self._db.fetchall(
            "SELECT i.event_id, p.depth, p.stream_ordering, j.json FROM ("
            f" SELECT e.event_nid, e.depth, e.stream_ordering FROM events e WHERE {where}"
            f" ORDER BY e.depth {order}, e.stream_ordering {order} LIMIT ?) AS p"
            " JOIN event_ids i ON i.event_nid = p.event_nid JOIN event_json j ON j.event_nid = p.event_nid"
            f" ORDER BY p.depth {order}, p.stream_ordering {order}",
            *args,
            limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        cached, _ = self._events.get_many(row[0] for row in rows)
        version = (await self._rooms.get_versions([room_nid]))[room_nid]
        events = []
        for event_id, _, _, raw in rows:
            event = cached.get(event_id)
            if event is None:
                raw = bytes(raw)
                # Visible events are never rejected.
                event = Event(orjson.loads(raw), version, event_id, None)
                self._events.add(event, raw)
            events.append(event)
        if not more or not rows:
            return EventPage(events, None)
        _, depth, stream, _ = rows[-1]
        next_token = TopologicalToken.before(depth, stream) if direction == "b" else TopologicalToken(depth, stream)
        return EventPage(events, next_token)

    async def get_topological_token_at_stream(self, room_id: str, stream: int) -> TopologicalToken | None:
        """The place just after the room's latest event at or before stream position `stream`."""
        room_nid = await self._rooms.get_room_nid(room_id)
        if room_nid is None:
            return None
        row = await self._db.fetchone(
            "SELECT depth, stream_ordering FROM events"
            " WHERE room_nid = ? AND stream_ordering <= ? ORDER BY stream_ordering DESC LIMIT 1",
            room_nid,
            stream,
        )
        return TopologicalToken(row[0], row[1]) if row else None

    async def get_max_stream_ordering(self) -> int:
        return await self._db.fetchval("SELECT COALESCE(MAX(stream_ordering), 0) FROM events")


def _targets_of(event: Event) -> list[str]:
    """The events this one redacts or relates to."""
    targets = []
    if event.type == "m.room.redaction" and event.redacts is not None:
        targets.append(event.redacts)
    relation = relation_of(event.content)
    if relation is not None:
        targets.append(relation[0])
    return targets
