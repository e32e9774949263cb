import asyncio

from veche.services.notifier import Notifier
from veche.services.streams import Stream, StreamToken


async def test_wakes_only_the_users_concerned():
    notifier = Notifier()
    since = notifier.current_token
    alice = asyncio.create_task(notifier.wait_for_changes("@alice:hs", since, timeout=5))
    bob = asyncio.create_task(notifier.wait_for_changes("@bob:hs", since, timeout=0.2))
    await asyncio.sleep(0)
    notifier.notify(Stream.EVENTS, 1, ["@alice:hs"])
    assert await alice is True
    assert await bob is False
    assert notifier.current_token.events == 1


async def test_change_before_waiting_is_not_missed():
    notifier = Notifier()
    since = StreamToken()
    notifier.notify(Stream.TO_DEVICE, 4, ["@alice:hs"])
    # The request computed its response at `since` before the change; it must not sleep.
    assert await notifier.wait_for_changes("@alice:hs", since, timeout=5) is True
    assert await notifier.wait_for_changes("@alice:hs", notifier.current_token, timeout=0) is False


async def test_timeout_cleans_up_waiters():
    notifier = Notifier()
    assert await notifier.wait_for_changes("@alice:hs", StreamToken(), timeout=0.01) is False
    assert notifier._waiters == {}


async def test_change_committed_out_of_order_waits_until_visible():
    notifier = Notifier()
    since = notifier.current_token
    bob = asyncio.create_task(notifier.wait_for_changes("@bob:hs", since, timeout=5))
    await asyncio.sleep(0)
    # Position 2 (Bob's room) commits while position 1 (Alice's room) is still in flight.
    notifier.notify(Stream.EVENTS, 2, ["@bob:hs"], visible_upto=0)
    await asyncio.sleep(0)
    assert not bob.done()
    assert not notifier.has_changes_since("@bob:hs", since)
    notifier.notify(Stream.EVENTS, 1, ["@alice:hs"], visible_upto=2)
    assert await bob is True
    assert notifier.current_token.events == 2
    assert notifier.has_changes_since("@alice:hs", since)


def test_records_only_vouch_for_tokens_since_start():
    notifier = Notifier()
    notifier.advance(Stream.EVENTS, 10)
    notifier.mark_started()
    assert notifier.knows_changes_since(StreamToken(events=10))
    assert not notifier.knows_changes_since(StreamToken(events=9))


def test_quiet_streams_are_those_with_nothing_for_the_user():
    notifier = Notifier()
    notifier.mark_started()
    since = notifier.current_token
    notifier.notify(Stream.RECEIPTS, 3, ["@alice:hs", "@bob:hs"])
    notifier.notify(Stream.TYPING, 1, ["@bob:hs"])
    notifier.notify(Stream.EVENTS, 5, ["@bob:hs"])
    quiet = notifier.quiet_streams("@alice:hs", since)
    assert Stream.RECEIPTS not in quiet
    assert {Stream.TYPING, Stream.TO_DEVICE, Stream.ACCOUNT_DATA} <= quiet
    # Events may commit before they are announced, so that stream is never vouched for.
    assert Stream.EVENTS not in quiet
    assert notifier.quiet_streams("@alice:hs", notifier.current_token) == frozenset(Stream) - {Stream.EVENTS}


def test_token_ahead_of_the_announced_positions_is_not_vouched_for():
    notifier = Notifier()
    notifier.mark_started()
    # A typing position from before a restart: the in-memory count starts again at 0.
    assert notifier.knows_changes_since(StreamToken()) is True
    assert notifier.knows_changes_since(StreamToken(typing=7)) is False


async def test_close_ends_waits_and_refuses_new_ones():
    notifier = Notifier()
    since = notifier.current_token
    waiting = asyncio.create_task(notifier.wait_for_changes("@alice:hs", since, timeout=30))
    await asyncio.sleep(0)
    notifier.close()
    assert await asyncio.wait_for(waiting, 1) is False
    assert notifier._waiters == {}
    assert await asyncio.wait_for(notifier.wait_for_changes("@bob:hs", since, timeout=30), 1) is False
