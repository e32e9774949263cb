"""Each user's unread counts per room, kept in memory so that a woken /sync reads none.

An entry holds what a room's counts are made of for one user: their read positions (the
furthest `m.read`/`m.read.private` receipt per thread, `""` for unthreaded, and their own
latest event per thread) and the counts of their unread push actions per thread, with the
newest of those actions. A new local event's actions, and its sender's read position, are
applied when it commits, before its stream position becomes visible; whatever else moves
a read position (a receipt) or adds actions outside the local send path (federation)
drops the entry.

A read races these writes, so what it read is kept only if nothing dropped an entry of
the user while it ran and no action above the position it read up to was added already.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from veche.storage.cache import LruCache

UNTHREADED = ""
# About 300 bytes each: 10,000 (user, room) pairs stay under 3 MB.
MAX_ENTRIES = 10_000
# Users whose latest write is remembered exactly (receipts come from remote users too).
MAX_USERS = 10_000


@dataclass(frozen=True, slots=True)
class Counts:
    notifications: int
    highlights: int


@dataclass(slots=True)
class RoomUnread:
    """One user's unread counts in one room, as of every committed write (see module doc)."""

    receipts: dict[str, int] = field(default_factory=dict)
    marks: dict[str, int] = field(default_factory=dict)
    counts: dict[str, Counts] = field(default_factory=dict)
    newest: int = 0

    def read_upto(self, thread_id: str) -> int:
        """The stream position up to which the user has read the thread."""
        return max(
            self.receipts.get(UNTHREADED, 0), self.receipts.get(thread_id, 0), self.marks.get(thread_id, 0)
        )

    def add_action(self, stream_ordering: int, thread_id: str, highlight: bool) -> None:
        if stream_ordering <= self.read_upto(thread_id):
            return
        old = self.counts.get(thread_id)
        notifications, highlights = (old.notifications, old.highlights) if old is not None else (0, 0)
        self.counts[thread_id] = Counts(notifications + 1, highlights + int(highlight))
        self.newest = max(self.newest, stream_ordering)


class _LatestPerUser:
    """The latest value recorded per user, for a bounded number of users: a forgotten user
    answers the largest value forgotten, so a comparison with it errs towards "changed"."""

    def __init__(self, max_users: int) -> None:
        self._values: OrderedDict[str, int] = OrderedDict()
        self._max_users = max_users
        self._forgotten = 0

    def get(self, user_id: str) -> int:
        return self._values.get(user_id, self._forgotten)

    def raise_to(self, user_id: str, value: int) -> None:
        if value <= self.get(user_id):
            return
        self._values[user_id] = value
        self._values.move_to_end(user_id)
        if len(self._values) > self._max_users:
            _, oldest = self._values.popitem(last=False)
            self._forgotten = max(self._forgotten, oldest)


class UnreadCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: LruCache[tuple[str, str], RoomUnread] = LruCache(max_entries)
        # Per user: when one of their entries was last dropped (a count of drops), and the
        # newest action position added for them; a read checks both (see `keep`).
        self._drop_count = 0
        self._last_drop = _LatestPerUser(MAX_USERS)
        self._newest_added = _LatestPerUser(MAX_USERS)

    def counts(self, user_id: str, room_id: str, upto: int) -> dict[str, Counts] | None:
        """The user's unread counts in the room up to event position `upto`, if known."""
        entry = self._entries.get((user_id, room_id))
        if entry is None or entry.newest > upto:
            return None
        return entry.counts

    def before_read(self, user_id: str) -> int:
        """A ticket to pass to `keep` for what is read from now on."""
        return self._last_drop.get(user_id)

    def keep(self, user_id: str, room_id: str, entry: RoomUnread, ticket: int, read_upto: int) -> None:
        """Cache an entry read from the database with actions up to `read_upto`, unless a
        write for the user has happened since `ticket` that the read may have missed."""
        if self._last_drop.get(user_id) != ticket or self._newest_added.get(user_id) > read_upto:
            return
        self._entries.set((user_id, room_id), entry)

    def add_actions(
        self, room_id: str, stream_ordering: int, thread_id: str, highlight: bool, user_ids: Iterable[str]
    ) -> None:
        """A local event with these recipients' actions has committed, its position not yet visible."""
        newest_added = self._newest_added
        for user_id in user_ids:
            newest_added.raise_to(user_id, stream_ordering)
            entry = self._entries.get((user_id, room_id))
            if entry is not None:
                entry.add_action(stream_ordering, thread_id, highlight)

    def mark_sent(self, room_id: str, user_id: str, thread_id: str, stream_ordering: int) -> None:
        """A local event of the user's in the thread has committed, its position not yet
        visible: they have read the thread up to it."""
        self._newest_added.raise_to(user_id, stream_ordering)
        entry = self._entries.get((user_id, room_id))
        if entry is None:
            return
        if thread_id in entry.counts and entry.newest > stream_ordering:
            # Some of the thread's unread actions may be newer than the event: only their
            # positions could tell, and the entry holds counts.
            self.drop(room_id, [user_id])
            return
        entry.marks[thread_id] = max(entry.marks.get(thread_id, 0), stream_ordering)
        entry.counts.pop(thread_id, None)

    def drop(self, room_id: str, user_ids: Iterable[str]) -> None:
        """Something these users' counts in the room depend on changed (after its commit)."""
        for user_id in user_ids:
            self._drop_count += 1
            self._last_drop.raise_to(user_id, self._drop_count)
            self._entries.pop((user_id, room_id))
