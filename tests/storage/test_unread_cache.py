"""The in-memory unread counts: what a racing read may keep, and how new actions count."""

from __future__ import annotations

from veche.storage.unread_cache import Counts, RoomUnread, UnreadCache

ALICE = "@alice:test"
ROOM = "!room:test"


def test_a_read_is_kept_and_new_actions_past_the_read_position_count() -> None:
    cache = UnreadCache()
    ticket = cache.before_read(ALICE)
    cache.keep(ALICE, ROOM, RoomUnread(receipts={"": 10}), ticket, read_upto=12)
    assert cache.counts(ALICE, ROOM, 12) == {}
    cache.add_actions(ROOM, 13, "main", True, [ALICE])
    assert cache.counts(ALICE, ROOM, 13) == {"main": Counts(1, 1)}
    # A sync whose position is below the newest action cannot be answered from memory.
    assert cache.counts(ALICE, ROOM, 12) is None


def test_actions_at_or_below_a_read_position_do_not_count() -> None:
    cache = UnreadCache()
    entry = RoomUnread(receipts={"thread": 20}, marks={"main": 15})
    cache.keep(ALICE, ROOM, entry, cache.before_read(ALICE), read_upto=30)
    cache.add_actions(ROOM, 14, "main", False, [ALICE])
    cache.add_actions(ROOM, 18, "thread", False, [ALICE])
    cache.add_actions(ROOM, 19, "main", False, [ALICE])
    assert cache.counts(ALICE, ROOM, 30) == {"main": Counts(1, 0)}


def test_a_read_racing_a_drop_or_a_newer_action_is_not_kept() -> None:
    cache = UnreadCache()
    ticket = cache.before_read(ALICE)
    cache.drop(ROOM, [ALICE])
    cache.keep(ALICE, ROOM, RoomUnread(), ticket, read_upto=10)
    assert cache.counts(ALICE, ROOM, 10) is None
    # An action above what the read covered was added while it ran (or before).
    ticket = cache.before_read(ALICE)
    cache.add_actions(ROOM, 11, "main", False, [ALICE])
    cache.keep(ALICE, ROOM, RoomUnread(), ticket, read_upto=10)
    assert cache.counts(ALICE, ROOM, 11) is None


def test_a_drop_forgets_the_entry() -> None:
    cache = UnreadCache()
    cache.keep(ALICE, ROOM, RoomUnread(), cache.before_read(ALICE), read_upto=5)
    cache.drop(ROOM, [ALICE])
    assert cache.counts(ALICE, ROOM, 5) is None


def test_an_own_event_marks_its_thread_read() -> None:
    cache = UnreadCache()
    entry = RoomUnread(counts={"main": Counts(2, 0), "root": Counts(1, 0)}, newest=8)
    cache.keep(ALICE, ROOM, entry, cache.before_read(ALICE), read_upto=8)
    cache.mark_sent(ROOM, ALICE, "main", 9)
    assert cache.counts(ALICE, ROOM, 9) == {"root": Counts(1, 0)}
    cache.add_actions(ROOM, 9, "main", False, [ALICE])  # at the mark: read
    assert cache.counts(ALICE, ROOM, 9) == {"root": Counts(1, 0)}
    # A thread with unread actions newer than the event cannot be told apart: dropped.
    cache.add_actions(ROOM, 12, "root", False, [ALICE])
    cache.mark_sent(ROOM, ALICE, "root", 11)
    assert cache.counts(ALICE, ROOM, 12) is None


def test_a_forgotten_user_still_refuses_a_read_that_raced_their_write() -> None:
    cache = UnreadCache()
    ticket = cache.before_read(ALICE)
    cache.drop(ROOM, [ALICE])
    for n in range(10_001):  # more users than remembered: Alice is forgotten
        cache.drop(ROOM, [f"@user{n}:test"])
    cache.keep(ALICE, ROOM, RoomUnread(), ticket, read_upto=10)
    assert cache.counts(ALICE, ROOM, 10) is None
