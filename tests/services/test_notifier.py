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
