"""The push actions of each (recipient, event) that notifies, and the unread counts they
make (migrations/0080_push.sql).

A user's read position in a room thread is the furthest of: their unthreaded `m.read` or
`m.read.private` receipt, their receipt in that thread, and their own latest event in that
thread (push.md "Marking notifications as read"). Receipts are read from the receipts
table (migrations/0011_receipts.sql) so counts and receipts never disagree.

Unread counts for a list of rooms read a room's main-timeline actions from its read
position there, one primary-key range per room, and the few actions in other threads from
an index of those alone (migrations/0190_push_actions_threaded.sql): a user who has read
most of their rooms costs what is unread, not every action they ever had.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from veche.storage.database import Database
from veche.storage.events import AlongsideWrites, Statements
from veche.storage.interning import AfterCommit
from veche.storage.unread_cache import Counts, RoomUnread, UnreadCache

MAIN_THREAD = "main"


def _read_receipts(in_rooms: bool) -> str:
    """A `WITH` clause naming one user's latest read receipt per room and thread
    (`read_receipts`); its parameters are the user ID, then the room IDs if `in_rooms`."""
    rooms = " AND room_id = ANY(?)" if in_rooms else ""
    return (
        "WITH read_receipts AS (SELECT room_id, thread_id, MAX(event_stream_ordering) AS upto"
        f" FROM receipts WHERE user_id = ?{rooms} AND receipt_type IN ('m.read', 'm.read.private')"
        " GROUP BY room_id, thread_id) "
    )


def _actions_with_read_position(engine: str, index_hint: str = "") -> tuple[str, str]:
    """`FROM` of the push actions `a` (`index_hint` after its name) joined (after
    `_read_receipts`) to what their user has read of their room thread, and the SQL of that
    read position. Joined rather than a subquery per action, which PostgreSQL without
    statistics ran as a scan per row (78-177 ms for 100 rooms)."""
    larger = "max" if engine == "sqlite" else "GREATEST"
    source = (
        f" FROM event_push_actions a{index_hint}"
        " LEFT JOIN read_receipts r0 ON r0.room_id = a.room_id AND r0.thread_id = ''"
        " LEFT JOIN read_receipts rt ON rt.room_id = a.room_id AND rt.thread_id = a.thread_id"
        " LEFT JOIN push_sent_marks m"
        " ON m.room_id = a.room_id AND m.user_id = a.user_id AND m.thread_id = a.thread_id"
    )
    position = f"{larger}(COALESCE(r0.upto, 0), COALESCE(rt.upto, 0), COALESCE(m.stream_ordering, 0))"
    return source, position


def _main_thread_position(engine: str) -> str:
    """SQL of how far the user has read the main timeline of room `w.value`: their
    unthreaded or main-thread receipt, or their own latest main-thread event. Its parameters
    are the user ID, twice."""
    larger = "max" if engine == "sqlite" else "GREATEST"
    return (
        f"{larger}(COALESCE((SELECT MAX(r.event_stream_ordering) FROM receipts r WHERE r.room_id = w.value"
        " AND r.user_id = ? AND r.receipt_type IN ('m.read', 'm.read.private') AND r.thread_id IN ('', 'main')), 0),"
        " COALESCE((SELECT m.stream_ordering FROM push_sent_marks m WHERE m.room_id = w.value AND m.user_id = ?"
        f" AND m.thread_id = '{MAIN_THREAD}'), 0))"
    )


def _main_thread_unread(engine: str) -> str:
    """`FROM` of the user's unread main-timeline actions `a` in each room `w.value` of a
    list, read from the room's read position on; its parameters are the room IDs, the user
    ID, the highest position to count, then the user ID twice (`_main_thread_position`).

    On PostgreSQL one LATERAL range of the primary key per room (OFFSET 0 keeps it from
    being flattened into a join, which without planner statistics may read every action
    of the user first); SQLite plans the join as those ranges anyway."""
    position = _main_thread_position(engine)
    actions = (
        f"a.user_id = ? AND a.room_id = w.value AND a.thread_id = '{MAIN_THREAD}'"
        f" AND a.stream_ordering <= ? AND a.stream_ordering > {position}"
    )
    if engine == "postgres":
        return (
            " FROM unnest(?::text[]) AS w(value)"
            f" CROSS JOIN LATERAL (SELECT * FROM event_push_actions a WHERE {actions} OFFSET 0) AS a"
        )
    return f" FROM json_each(?) AS w JOIN event_push_actions a ON {actions}"


def _insert_actions(engine: str) -> str:
    """One group's rows, the user IDs given as one list parameter, a row already there kept.

    On SQLite, `INSERT OR IGNORE` rather than `ON CONFLICT DO NOTHING`: a statement that may
    abort halfway through its rows (DO NOTHING still aborts on other constraints) keeps a
    statement journal of every page it touches, which made this insert cost 2.5 times as
    much (one B-tree leaf per recipient in each of two indexes). No value here is ever
    NULL, so the two differ in nothing else."""
    columns = "event_push_actions (user_id, room_id, stream_ordering, event_id, thread_id, highlight, actions, ts)"
    if engine == "sqlite":
        return f"INSERT OR IGNORE INTO {columns} SELECT value, ?, ?, ?, ?, ?, ?, ? FROM json_each(?)"
    return (
        f"INSERT INTO {columns} SELECT value, ?, ?, ?, ?, ?, ?, ? FROM unnest(?::text[]) AS u(value)"
        " ON CONFLICT DO NOTHING"
    )


@dataclass(frozen=True, slots=True)
class NotifiedUsers:
    """Recipients of one event whose push rules gave the same actions."""

    user_ids: Sequence[str]
    highlight: bool
    actions: Sequence[Any]


@dataclass(frozen=True, slots=True)
class Notification:
    room_id: str
    event_id: str
    stream_ordering: int
    actions: list[Any]
    ts: int
    read: bool


class PushActionStore:
    def __init__(self, db: Database, visible_events: Callable[[], int]) -> None:
        """`visible_events`: the event stream position below which everything has committed."""
        self._db = db
        self._actions, read_position = _actions_with_read_position(db.engine)
        self._read_position = read_position
        self._unread_actions = f"{self._actions} WHERE a.stream_ordering > {read_position}"
        self._main_thread_unread = _main_thread_unread(db.engine)
        # SQLite without statistics prefers the primary key, which holds every action.
        hint = " INDEXED BY event_push_actions_threaded" if db.engine == "sqlite" else ""
        threaded_source, _ = _actions_with_read_position(db.engine, hint)
        self._threaded_unread = (
            f"{threaded_source} WHERE a.stream_ordering > {read_position} AND a.thread_id <> '{MAIN_THREAD}'"
        )
        self._visible_events = visible_events
        self._unread = UnreadCache()
        self._insert_actions = _insert_actions(db.engine)

    async def add(
        self,
        room_id: str,
        event_id: str,
        stream_ordering: int,
        ts: int,
        thread_id: str,
        notified: Iterable[NotifiedUsers],
        sender_mark: str | None,
    ) -> None:
        """Record who one event notifies, in a transaction of its own (an event that is
        already persisted); `sender_mark` is its sender if local (read up to it)."""
        groups = [g for g in notified if g.user_ids]
        statements = self._writes(room_id, event_id, ts, thread_id, groups, sender_mark, stream_ordering)
        if statements:
            async with self._db.transaction() as txn:
                await txn.execute_all(statements)
            # The event's position is visible already, so a read may have seen these rows
            # before this point: adding them to cached counts could count them twice.
            touched = [u for g in groups for u in g.user_ids]
            self._unread.drop(room_id, touched if sender_mark is None else [*touched, sender_mark])

    def statements(
        self,
        room_id: str,
        event_id: str,
        ts: int,
        thread_id: str,
        notified: Iterable[NotifiedUsers],
        sender_mark: str | None,
    ) -> AlongsideWrites:
        """The writes of `add`, to run in the event's own transaction once its stream
        position is known (see `EventStore.persist_event_chain`); once they commit, the
        cached unread counts take them in before the position becomes visible."""
        groups = [g for g in notified if g.user_ids]

        def at(stream_ordering: int, after: AfterCommit) -> Statements:
            def committed() -> None:
                for group in groups:
                    self._unread.add_actions(room_id, stream_ordering, thread_id, group.highlight, group.user_ids)
                if sender_mark is not None:
                    self._unread.mark_sent(room_id, sender_mark, thread_id, stream_ordering)

            after.add(committed)
            return self._writes(room_id, event_id, ts, thread_id, groups, sender_mark, stream_ordering)

        return at

    def _writes(
        self,
        room_id: str,
        event_id: str,
        ts: int,
        thread_id: str,
        groups: Sequence[NotifiedUsers],
        sender_mark: str | None,
        stream_ordering: int,
    ) -> Statements:
        # One statement per group however many users it holds (a room of thousands).
        writes: Statements = [
            (
                self._insert_actions,
                (
                    room_id,
                    stream_ordering,
                    event_id,
                    thread_id,
                    group.highlight,
                    orjson.dumps(group.actions).decode(),
                    ts,
                    list(group.user_ids),
                ),
            )
            for group in groups
        ]
        if sender_mark is not None:
            writes.append((
                "INSERT INTO push_sent_marks (room_id, user_id, thread_id, stream_ordering) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (room_id, user_id, thread_id) DO UPDATE SET stream_ordering = excluded.stream_ordering"
                " WHERE push_sent_marks.stream_ordering < excluded.stream_ordering",
                (room_id, sender_mark, thread_id, stream_ordering),
            ))
        return writes

    async def unread_counts(
        self, user_id: str, room_ids: Sequence[str], upto: int
    ) -> dict[str, dict[str, Counts]]:
        """room ID → thread ID ('main' or a root) → unread counts up to event position
        `upto`, for rooms with any; from memory where the rooms' counts are cached."""
        counts: dict[str, dict[str, Counts]] = {}
        missing: list[str] = []
        for room_id in room_ids:
            cached = self._unread.counts(user_id, room_id, upto)
            if cached is None:
                missing.append(room_id)
            elif cached:
                counts[room_id] = dict(cached)
        if not missing:
            return counts
        ticket = self._unread.before_read(user_id)
        visible = self._visible_events()
        loaded = await self._load_unread(user_id, missing, visible)
        newer: list[str] = []
        for room_id in missing:
            entry = loaded.get(room_id, RoomUnread())
            self._unread.keep(user_id, room_id, entry, ticket, visible)
            if entry.newest > upto:
                # Actions past the request's position are unread now: count up to it instead.
                newer.append(room_id)
            elif entry.counts:
                counts[room_id] = dict(entry.counts)
        if newer:
            counts.update(await self._count_unread(user_id, newer, upto))
        return counts

    def _unread_by_thread(self, kind: str, user_id: str, room_ids: Sequence[str], upto: int) -> tuple[str, list[Any]]:
        """SQL selecting `kind`, room, thread, count, highlights and newest position of the
        user's unread actions up to `upto` in these rooms, per room and thread, to follow
        `_read_receipts(in_rooms=True)`; and the statement's arguments so far."""
        counts = "a.thread_id, COUNT(*), SUM(CASE WHEN a.highlight THEN 1 ELSE 0 END), MAX(a.stream_ordering)"
        rooms = list(room_ids)
        # Evaluated once per part: a user without any action skips the per-room probes.
        has_actions = "EXISTS (SELECT 1 FROM event_push_actions e WHERE e.user_id = ?)"
        sql = (
            f"SELECT {kind}w.value, {counts}{self._main_thread_unread}"
            f" WHERE {has_actions} GROUP BY w.value, a.thread_id"
            f" UNION ALL SELECT {kind}a.room_id, {counts}{self._threaded_unread}"
            f" AND {has_actions} AND a.user_id = ? AND a.room_id = ANY(?) AND a.stream_ordering <= ?"
            " GROUP BY a.room_id, a.thread_id"
        )
        return sql, [user_id, rooms, rooms, user_id, upto, user_id, user_id, user_id, user_id, user_id, rooms, upto]

    async def _load_unread(self, user_id: str, room_ids: Sequence[str], upto: int) -> dict[str, RoomUnread]:
        """What the user's unread counts in these rooms are made of (`RoomUnread`): their
        unread actions up to `upto`, and their receipts and own-event marks, in one statement."""
        unread, args = self._unread_by_thread("0, ", user_id, room_ids, upto)
        rows = await self._db.fetchall(
            _read_receipts(in_rooms=True)
            + unread
            + " UNION ALL SELECT 1, room_id, thread_id, upto, 0, 0 FROM read_receipts"
            " UNION ALL SELECT 2, room_id, thread_id, stream_ordering, 0, 0 FROM push_sent_marks"
            " WHERE user_id = ? AND room_id = ANY(?)",
            *args,
            user_id,
            list(room_ids),
        )
        entries: dict[str, RoomUnread] = {}
        for kind, room_id, thread_id, value, highlights, newest in rows:
            entry = entries.setdefault(room_id, RoomUnread())
            if kind == 0:
                entry.counts[thread_id] = Counts(int(value), int(highlights or 0))
                entry.newest = max(entry.newest, int(newest))
            elif kind == 1:
                entry.receipts[thread_id] = int(value)
            else:
                entry.marks[thread_id] = int(value)
        return entries

    async def _count_unread(
        self, user_id: str, room_ids: Sequence[str], upto: int
    ) -> dict[str, dict[str, Counts]]:
        unread, args = self._unread_by_thread("", user_id, room_ids, upto)
        rows = await self._db.fetchall(_read_receipts(in_rooms=True) + unread, *args)
        counts: dict[str, dict[str, Counts]] = {}
        for room_id, thread_id, notifications, highlights, _newest in rows:
            counts.setdefault(room_id, {})[thread_id] = Counts(int(notifications), int(highlights or 0))
        return counts

    def forget_room(self, room_id: str, user_ids: Iterable[str]) -> None:
        """Drop the cached counts of a purged room."""
        self._unread.drop(room_id, user_ids)

    def receipt_stored(self, room_id: str, user_id: str) -> None:
        """A receipt of the user's in the room has committed: their read position there may have moved."""
        self._unread.drop(room_id, [user_id])

    async def total_unread(self, user_id: str) -> int:
        """Unread notifications across all rooms (a push's `counts.unread`)."""
        return int(
            await self._db.fetchval(
                _read_receipts(in_rooms=False) + "SELECT COUNT(*)" + self._unread_actions + " AND a.user_id = ?",
                user_id,
                user_id,
            )
            or 0
        )

    async def rooms_read_between(self, user_id: str, since: int, upto: int) -> set[str]:
        """Rooms where the user's m.read / m.read.private receipts moved in (since, upto]."""
        rows = await self._db.fetchall(
            "SELECT DISTINCT room_id FROM receipts WHERE user_id = ? AND receipt_type IN ('m.read', 'm.read.private')"
            " AND stream_id > ? AND stream_id <= ?",
            user_id,
            since,
            upto,
        )
        return {row[0] for row in rows}

    async def get_notifications(
        self, user_id: str, *, before: int | None, limit: int, only_highlight: bool
    ) -> list[Notification]:
        """The user's notifications, newest first, below stream position `before`."""
        rows = await self._db.fetchall(
            _read_receipts(in_rooms=False)
            + "SELECT a.room_id, a.event_id, a.stream_ordering, a.actions, a.ts,"
            f" CASE WHEN a.stream_ordering <= {self._read_position} THEN 1 ELSE 0 END"
            + self._actions
            + " WHERE a.user_id = ? AND a.stream_ordering < ?"
            + (" AND a.highlight" if only_highlight else "")
            + " ORDER BY a.stream_ordering DESC LIMIT ?",
            user_id,
            user_id,
            before if before is not None else 2**62,
            limit,
        )
        return [
            Notification(room_id, event_id, stream, orjson.loads(actions), ts, bool(read))
            for room_id, event_id, stream, actions, ts, read in rows
        ]
